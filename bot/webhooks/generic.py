"""The generic deploy webhook (`POST /webhooks/deploy`) for any CI system.

Body (JSON object; only `environment` and one of `version` or `commit` are required):

    {"environment": "staging", "version": "1.4.2", "commit": "9f2c1e7...", "ref": "main",
     "deployer": "ci@example.com", "url": "https://staging.example.com",
     "link": "https://ci.example.com/pipelines/812", "status": "success",
     "idempotency_key": "pipeline-812"}

`status` defaults to "success"; any other value is recorded and ignored. The idempotency key
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
from collections.abc import Mapping
from typing import Any

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

__all__ = ["IDEMPOTENCY_HEADER", "NAME", "RECORDED_HEADERS", "parse", "parse_deploy",
           "verify"]

NAME = "deploy"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RECORDED_HEADERS = ("x-smokebot-timestamp", "idempotency-key")
_FIELDS = ("environment", "version", "commit", "ref", "deployer", "url", "link", "status",
           "idempotency_key")
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
        url=optional_text(payload, "url"), link=optional_text(payload, "link"))
