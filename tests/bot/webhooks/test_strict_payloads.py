"""Strict webhook payloads: a signed body with a field of the wrong type, text the store cannot
hold (NUL, a lone surrogate, any control character, over 2048 characters), NaN, a number out of
range or too long, or nesting too deep is refused with 400 naming what is wrong, for each
source; never a 500, and never a run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.webhooks.argocd import parse_notification
from bot.webhooks.generic import parse_deploy
from bot.webhooks.github import parse
from bot.webhooks.notice import MalformedPayload, json_body
from tests.bot.webhook_payloads import (
    argocd_notification,
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    github_ping,
    to_body,
)
from tests.bot.webhooks.guard_support import SECRETS, Served


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(MalformedPayload) as caught:
        call()
    assert caught.value.status == 400
    return caught.value.reason


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("application", 7, "field 'application' must be a string, got a number"),
    ("revision", ["4b6e"], "field 'revision' must be a string, got an array"),
    ("sync_status", {"status": "Synced"}, "field 'sync_status' must be a string, got an object"),
    ("health_status", True, "field 'health_status' must be a string, got a boolean"),
    ("finished_at", 1_700_000_000, "field 'finished_at' must be a string, got a number"),
    ("version", 2.8, "field 'version' must be a string, got a number"),
    ("app_url", "https://argocd\u0000.example.com", "field 'app_url' holds a control character "
                                                    "or a lone surrogate; expected plain text"),
    ("initiated_by", "x" * 2049, "field 'initiated_by' is 2049 characters long; expected at most "
                                 "2048"),
])
def test_an_argocd_field_of_the_wrong_type_or_text_is_named(field: str, value: Any,
                                                            reason: str) -> None:
    assert refused(lambda: parse_notification(argocd_notification() | {field: value})) == reason


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("environment", ["prod"], "field 'environment' must be a string, got an array"),
    ("commit", 9, "field 'commit' must be a string, got a number"),
    ("url", {"href": "x"}, "field 'url' must be a string, got an object"),
    ("status", False, "field 'status' must be a string, got a boolean"),
    ("idempotency_key", 812, "field 'idempotency_key' must be a string, got a number"),
    ("environment", "pr\u0000od", "field 'environment' holds a control character or a lone "
                                  "surrogate; expected plain text"),
    ("deployer", "\ud800", "field 'deployer' holds a control character or a lone surrogate; "
                           "expected plain text"),
    ("ref", "main\nfake", "field 'ref' holds a control character or a lone surrogate; expected "
                          "plain text"),
    ("version", 10 ** 2100, "field 'version' is 2101 characters long; expected at most 2048"),
])
def test_a_generic_field_of_the_wrong_type_or_text_is_named(field: str, value: Any,
                                                           reason: str) -> None:
    assert refused(lambda: parse_deploy(generic_body(**{field: value}), b"{}")) == reason


def test_an_unknown_generic_field_is_quoted_printable_and_short() -> None:
    payload = generic_body() | {"\u0000evil\ud800" + "k" * 100: 1}

    assert refused(lambda: parse_deploy(payload, b"{}")) == (
        f"unknown field '?evil?{'k' * 54}...'; expected any of: environment, version, commit, "
        f"ref, deployer, url, link, status, idempotency_key, callback_url")


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"environment": "prod", "version": NaN}',
     "body is not valid JSON: NaN is not a JSON number"),
    (b'{"version": -Infinity}', "body is not valid JSON: -Infinity is not a JSON number"),
    (b'{"version": 1e999}', "body is not valid JSON: a number is out of range"),
    (b'{"version": ' + b"9" * 5000 + b"}", "body holds a number too long to read; expected a "
                                           "JSON object"),
    (b"[" * 100_000, "body is nested too deeply; expected a JSON object"),
    (b"\xef\xbb\xbf{}", "body is not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) "
                        "at line 1 column 1"),
    (b'{"a": "\xed\xa0\x80"}', "body is not UTF-8 text; expected a JSON object"),
    (b" \n ", "body is empty; expected a JSON object"),
])
def test_a_body_that_is_not_plain_json_is_refused(body: bytes, reason: str) -> None:
    assert refused(lambda: json_body({}, body)) == reason


def test_a_github_ping_keeps_only_a_numeric_hook_id() -> None:
    headers = {"X-GitHub-Delivery": "d-1", "X-GitHub-Event": "ping"}
    for hook_id, kept in ((431_775_102, 431_775_102), ([[[[1]]]], None), ("\u0000", None),
                          (True, None)):
        ignored = parse(headers, to_body(github_ping() | {"hook_id": hook_id}))
        assert ignored.summary == {"event": "ping", "hook_id": kept}  # type: ignore[union-attr]


def test_a_github_deployment_payload_version_we_cannot_use_falls_back_to_the_ref() -> None:
    # `deployment.payload` is free-form, written by whoever created the deployment: not ours
    # to refuse. A version in it that is not plain text is no version.
    headers = {"X-GitHub-Delivery": "d-2", "X-GitHub-Event": "deployment_status"}
    for version in ("v\u00001", ["2.8.1"], "x" * 3000):
        payload = github_deployment_status()
        payload["deployment"] = payload["deployment"] | {"payload": {"version": version}}
        notice = parse(headers, to_body(payload))
        assert notice.version == "main"  # type: ignore[union-attr]


@pytest.mark.parametrize("source", ["github", "argocd", "deploy"])
async def test_a_signed_body_with_a_nul_in_a_field_is_400_over_http(served: Served,
                                                                    source: str) -> None:
    # These reached the store and failed there: a 500 (or, for a mapped name, a run).
    if source == "github":
        payload = github_deployment_status()
        payload["deployment"] = payload["deployment"] | {"sha": "9f2c\u0000"}
        body = to_body(payload)
        headers = github_headers(SECRETS["github"], body)
        field = "deployment.sha"
    elif source == "argocd":
        body = to_body(argocd_notification(revision="\ud8004b6e"))
        headers = {"Content-Type": "application/json", "X-Smokebot-Token": SECRETS["argocd"]}
        field = "revision"
    else:
        body = json.dumps(generic_body(environment="prod", commit="\u00000c8e")).encode()
        headers = generic_headers(SECRETS["deploy"], body)
        field = "commit"

    response = httpx.post(f"{served.url}/webhooks/{source}", content=body, headers=headers)

    assert (response.status_code, response.json()["message"]) == (
        400, f"rejected: field '{field}' holds a control character or a lone surrogate; "
             f"expected plain text")
    assert served.runs_created() == 0
