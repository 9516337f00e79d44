"""Whether one answer of a load probe is a failure: its status, and (on every `assert_every`th
answer) the suite's assertions; and a failed request as the report shows it."""

from __future__ import annotations

import json
from typing import Any

from checks.assertions import evaluate, response_field
from checks.kinds.http import SHOWN_HEADERS
from checks.kinds.load._client import Answer, TransportFailure
from checks.kinds.load._params import LoadParams
from checks.paths import ResponseFacts

__all__ = ["failure_record", "judge", "transport_record"]

BODY_EXCERPT_CHARS = 500


def judge(params: LoadParams, answer: Answer, sampled: bool) -> list[str]:
    """What is wrong with the answer; empty when nothing is."""
    expected = params.expected_statuses
    if expected and answer.status not in expected:
        wanted = " or ".join(str(code) for code in expected)
        return [f"expected status {wanted}, got {answer.status}"]
    if not expected and not 200 <= answer.status < 300:
        return [f"expected a 2xx status, got {answer.status}"]
    if not sampled or not params.assertions:
        return []
    on_body = [a for a in params.assertions if response_field(a) is None]
    document = None
    if on_body:
        try:
            document = json.loads(answer.body)
        except ValueError:
            return [f"expected a JSON body for {len(on_body)} assertion"
                    f"{'s' if len(on_body) != 1 else ''}, got a body that is not JSON"]
    headers = {name.lower(): ", ".join(answer.headers.getall(name))
               for name in answer.headers.keys()}
    facts = ResponseFacts(status=answer.status, headers=headers, elapsed_ms=answer.ms)
    return evaluate(list(params.assertions), document, facts)


def _excerpt(body: bytes) -> str:
    if not body:
        return ""
    if b"\x00" in body:
        return f"({len(body)} bytes of binary content)"
    text = body.decode("utf-8", errors="replace")
    if len(text) > BODY_EXCERPT_CHARS:
        text = f"{text[:BODY_EXCERPT_CHARS]} … ({len(body)} bytes)"
    return text


def failure_record(index: int, at_s: float, answer: Answer,
                   problems: list[str]) -> dict[str, Any]:
    """A failed answer for the report: status, what was wrong, a few headers, the body's
    start. Never the request's headers (they may carry credentials)."""
    shown = {name: answer.headers[name] for name in SHOWN_HEADERS if name in answer.headers}
    return {"request": index, "at_s": round(at_s, 3), "status": answer.status,
            "reason": answer.reason, "ms": round(answer.ms, 1), "problems": problems,
            "headers": shown, "body": _excerpt(answer.body)}


def transport_record(index: int, at_s: float, failure: TransportFailure) -> dict[str, Any]:
    return {"request": index, "at_s": round(at_s, 3), "error": failure.error_class,
            "message": failure.message}
