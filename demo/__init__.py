"""The bundled demo target (`demo.target.create_app`) that `make demo` runs the example suite
against: a small in-memory stand-in for the rsolv API of the reference staging report."""
