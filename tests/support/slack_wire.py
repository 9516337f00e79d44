"""Slack's Web API wire format: reading a call's parameters and writing Slack's JSON answer.

Reading: parameters arrive as a query string, a form body, a JSON body or multipart form data
(slack_sdk uses each for some method). JSON-encoded fields (`blocks`, `view`, `files`, ...)
are decoded, so a form call and a JSON call look the same afterwards. A body Slack would
refuse outright raises `BadRequest` with Slack's error code (`invalid_json`,
`invalid_form_data`, `invalid_post_type`, `missing_post_type`); content-type slips Slack only
warns about come back as warnings (`missing_charset`, `superfluous_charset`).

Writing: an `Answer` becomes `{"ok": ..., "error": ..., <data>, "errors": [...],
"warning": "a,b", "response_metadata": {"warnings": [...], "messages": [...]}}`, with the
optional parts present only when set, as Slack sends them.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["Answer", "BadRequest", "answer_body", "failure", "is_true", "read_params",
           "success"]

_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


@dataclass
class Answer:
    """What a Web API method answers; `error` None means `ok: true`."""

    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


class BadRequest(Exception):
    """A request Slack refuses before looking at the method (bad body, bad content type)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def success(data: dict[str, Any] | None = None) -> Answer:
    return Answer(data=data or {})


def failure(error: str, *, errors: list[str] | None = None,
            messages: list[str] | None = None) -> Answer:
    return Answer(error=error, errors=list(errors or []), messages=list(messages or []))


def is_true(value: Any) -> bool:
    """Slack's reading of a boolean parameter: JSON true, or "true"/"1" in a form."""
    return value is True or str(value).lower() in ("true", "1")


def answer_body(answer: Answer, request_warnings: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": answer.error is None}
    if answer.error is not None:
        body["error"] = answer.error
    body.update(answer.data)
    if answer.errors:
        body["errors"] = list(answer.errors)
    warnings = [*request_warnings, *answer.warnings]
    metadata: dict[str, Any] = {}
    if warnings:
        body["warning"] = ",".join(warnings)
        metadata["warnings"] = warnings
    if answer.messages:
        metadata["messages"] = list(answer.messages)
    if metadata:
        body["response_metadata"] = metadata
    return body


async def read_params(request: Request) -> tuple[dict[str, Any], str, list[str]]:
    """(parameters, encoding, warnings); encoding is "query", "form", "json" or "multipart"."""
    params: dict[str, Any] = dict(request.query_params)
    encoding = "query"
    warnings: list[str] = []
    body = await request.body()
    if request.method == "POST" and body:
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        has_charset = "charset=" in content_type.lower()
        if not media_type:
            raise BadRequest("missing_post_type")
        if media_type == "application/json":
            encoding = "json"
            params.update(_json_object(body))
            if not has_charset:
                warnings.append("missing_charset")
        elif media_type == "application/x-www-form-urlencoded":
            encoding = "form"
            params.update(_form_fields(body))
            if has_charset:
                warnings.append("superfluous_charset")
        elif media_type == "multipart/form-data":
            encoding = "multipart"
            params.update(_multipart_fields(content_type, body))
        else:
            raise BadRequest("invalid_post_type")
    for name in _JSON_FIELDS:
        value = params.get(name)
        if isinstance(value, str):
            # Undecodable JSON stays a string; the method answers as Slack does for bad JSON.
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params, encoding, warnings


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body)
    except ValueError:
        raise BadRequest("invalid_json") from None
    if not isinstance(decoded, dict):
        raise BadRequest("invalid_json")
    return decoded


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("invalid_form_data") from None


def _multipart_fields(content_type: str, body: bytes) -> dict[str, Any]:
    envelope = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    message = BytesParser(policy=policy.HTTP).parsebytes(envelope)
    if not message.is_multipart():
        raise BadRequest("invalid_form_data")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name:
            fields[str(name)] = payload if part.get_filename() else payload.decode("utf-8")
    return fields
