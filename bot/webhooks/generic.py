"""The generic deploy webhook (`POST /webhooks/deploy`) for any CI system.

Body (JSON object; only `environment` and one of `version` or `commit` are required):

    {"environment": "staging", "version": "1.4.2", "commit": "9f2c1e7...", "ref": "main",
     "deployer": "ci@example.com", "url": "https://staging.example.com",
     "link": "https://ci.example.com/pipelines/812", "status": "success",
     "idempotency_key": "pipeline-812"}

`status` defaults to "success"; any other value is recorded and ignored. An optional
`callback_url` is told the run's verdict when the run ends: a JSON POST signed like this request,
with the same secret (bot/report_back/callback.py). It must be https://, or http:// to a
loopback address (a receiver on the same host or pod); it may not carry a user name or password
(the URL is stored; the signature is what proves the callback is smokebot's). The idempotency key
(the body's `idempotency_key`, else the `Idempotency-Key` header) makes a retried call the same
delivery; without one, the body itself is the key, so re-sending the same body (a retry, or a
replay within the signature's five minutes) never starts a second run.

Signed: `X-Smokebot-Timestamp: <unix seconds>` and `X-Smokebot-Signature: sha256=<hex HMAC-SHA256
of "<timestamp>.<body>">`, e.g. from a shell:

    ts=$(date +%s); body='{"environment":"staging","version":"1.4.2"}'
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
    curl -fsS https://smokebot.example.com/webhooks/deploy -H 'Content-Type: application/json' \\
      -H "X-Smokebot-Timestamp: $ts" -H "X-Smokebot-Signature: sha256=$sig" -d "$body"
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.records import ReportTarget
from bot.report_back.names import CALLBACK
from bot.webhooks.notice import (
    DeployNotice,
    MalformedPayload,
    json_body,
    optional_text,
    quoted,
    required_text,
)
from bot.webhooks.verify import GENERIC_SIGNATURE_HEADER, GENERIC_TIMESTAMP_HEADER, verify_generic
from checks.secrets import Secret

__all__ = ["IDEMPOTENCY_HEADER", "NAME", "RECORDED_HEADERS", "callback_url_problem", "parse",
           "parse_deploy", "verify"]

NAME = "deploy"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RECORDED_HEADERS = ("x-smokebot-timestamp", "idempotency-key")
_FIELDS = ("environment", "version", "commit", "ref", "deployer", "url", "link", "status",
           "idempotency_key", "callback_url")
_MAX_KEY = 200


def verify(headers: Mapping[str, str], body: bytes, secret: Secret) -> None:
    verify_generic(secret, body, headers.get(GENERIC_SIGNATURE_HEADER),
                   headers.get(GENERIC_TIMESTAMP_HEADER))


def parse(headers: Mapping[str, str], body: bytes) -> DeployNotice:
    return parse_deploy(json_body(headers, body), body, headers.get(IDEMPOTENCY_HEADER))


def parse_deploy(payload: Any, body: bytes, header_key: str | None = None) -> DeployNotice:
    """Raises MalformedPayload naming the first missing, mistyped or unknown field."""
    if not isinstance(payload, dict):
        raise MalformedPayload("expected a JSON object such as "
                               '{"environment": "staging", "version": "1.4.2"}')
    unknown = sorted(set(payload) - set(_FIELDS))
    if unknown:
        raise MalformedPayload(f"unknown field {quoted(unknown[0])}; expected any of: "
                               f"{', '.join(_FIELDS)}")
    environment = required_text(payload, "environment")
    version = optional_text(payload, "version", number_ok=True)  # a build number
    commit = optional_text(payload, "commit")
    if version is None and commit is None:
        raise MalformedPayload("missing field 'version' or 'commit'; expected at least one")
    status = (optional_text(payload, "status") or "success").lower()
    key = optional_text(payload, "idempotency_key") or (header_key or "").strip() or None
    if key is not None and len(key) > _MAX_KEY:
        raise MalformedPayload(f"idempotency key is {len(key)} characters long; expected at "
                               f"most {_MAX_KEY}")
    return DeployNotice(
        source=NAME,
        delivery_id=key or "body-sha256:" + hashlib.sha256(body).hexdigest(),
        environment=environment, state=status, succeeded=status == "success",
        description=f"deploy webhook for {environment}", version=version, commit=commit,
        ref=optional_text(payload, "ref"), deployer=optional_text(payload, "deployer"),
        url=optional_text(payload, "url"), link=optional_text(payload, "link"),
        report_to=_callback(optional_text(payload, "callback_url")))


def _callback(url: str | None) -> ReportTarget | None:
    if url is None:
        return None
    problem = callback_url_problem(url)
    if problem:
        raise MalformedPayload(f"field 'callback_url' {problem}")
    return ReportTarget(kind=CALLBACK, source=NAME, callback_url=url)


def callback_url_problem(url: str) -> str | None:
    """What is wrong with `url` as a callback URL, in words that quote none of it (its query
    may hold a key); None when nothing is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a URL: its host or port is malformed"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        return ("must be an https:// URL with a host (http:// only to a loopback address "
                "such as 127.0.0.1)")
    if parts.username is not None or parts.password is not None:
        return ("must not carry a user name or password; the receiver verifies the "
                "X-Smokebot-Signature instead")
    if parts.fragment:
        return "must not have a #fragment"
    if scheme == "http" and not _loopback(parts.hostname):
        return ("must be https:// for a host other than a loopback address (127.0.0.1, ::1, "
                "localhost); the verdict is not sent in clear over a network")
    return None


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
