"""Benchmarks: each prints its figures; none is a pass/fail test."""
