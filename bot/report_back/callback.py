"""The verdict as a signed POST to the `callback_url` a generic deploy webhook gave.

    POST <callback_url>
    Content-Type: application/json
    X-Smokebot-Delivery: <run id>          the same on every attempt: drop a repeat
    X-Smokebot-Timestamp: <unix seconds>
    X-Smokebot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">

    {"type": "smokebot.verdict", "run_id": "…", "environment": "staging", "status": "failed",
     "passed": false, "description": "staging failed: 2 of 12 checks failed",
     "counts": {"passed": 10, "failed": 2, …, "total": 12}, "reason": null,
     "run_url": "https://smokebot.example.com/runs/…?exp=…&sig=…",
     "deploy": {"version": "1.4.2", "commit": "…", …},
     "created_at": "…", "started_at": "…", "finished_at": "…"}

Signed exactly like the request that asked for it, with the same shared secret
(SMOKEBOT_DEPLOY_WEBHOOK_SECRET), so the receiver checks it with the code that signed the
deploy: HMAC over `{timestamp}.{raw body}`, a timestamp within five minutes. Each attempt is
signed anew (a retry an hour later is still fresh). Every ended run is reported, a superseded
one too (`status: "superseded"`).

Answers: any 2xx is delivered. 408, 425, 429 and 5xx are tried again (429 after its
Retry-After); a redirect is not followed and, like any other 4xx, is permanent. A callback
cannot be asked whether an attempt in doubt arrived, so it is sent again: the receiver drops a
repeated `X-Smokebot-Delivery`.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ReportFailed
from bot.records import ReportTarget, Run, RunStatus
from bot.report_back.base import Prepared, Reporter, Sending, Sent
from bot.report_back.http import exchange, header_wait_s, user_agent
from bot.report_back.names import CALLBACK
from bot.report_back.verdict import plain, verdict_words
from bot.settings import Settings
from bot.webhooks.generic import callback_url_problem
from bot.webhooks.sources import source_named
from bot.webhooks.verify import (
    GENERIC_SIGNATURE_HEADER,
    GENERIC_TIMESTAMP_HEADER,
    generic_signature,
)

__all__ = ["DELIVERY_HEADER", "REPORTER", "verdict_body"]

DELIVERY_HEADER = "X-Smokebot-Delivery"
_RETRIED = frozenset({408, 425, 429})


def verdict_body(run: Run, run_url: str | None) -> dict[str, Any]:
    counts = run.counts
    return {
        "type": "smokebot.verdict", "run_id": str(run.id), "environment": run.environment,
        "status": run.status.value, "passed": run.status is RunStatus.PASSED,
        "description": verdict_words(run),
        "counts": {"passed": counts.passed, "failed": counts.failed, "errors": counts.errors,
                   "skipped": counts.skipped, "warnings": counts.warnings,
                   "flaky": counts.flaky, "slow": counts.slow, "total": counts.total},
        "reason": plain(run.status_reason) if run.status_reason else None,
        "run_url": run_url,
        "deploy": run.deploy.as_variables() if run.deploy is not None else {},
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _prepare(run: Run, run_url: str | None) -> Prepared:
    return Prepared(body=verdict_body(run, run_url), reported=run.status.value)


def _ready(settings: Settings, target: ReportTarget) -> str | None:
    if not target.callback_url:
        return "the deploy gave no callback_url"
    if settings.webhook_secrets.get(target.source) is None:
        return f"{source_named(target.source).secret_env} is not set: nothing to sign with"
    problem = callback_url_problem(target.callback_url)
    return f"callback_url {problem}" if problem else None


def _describe(target: ReportTarget) -> str:
    """The callback's address without its query (it may hold a key)."""
    parts = urlsplit(target.callback_url or "")
    return f"callback {parts.scheme}://{parts.netloc}{parts.path}"


async def _send(sending: Sending, prepared: Prepared) -> Sent:
    secret = sending.settings.webhook_secrets[sending.target.source]  # _ready said so
    body = json.dumps(prepared.body, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    answer = await exchange(
        sending.http, "POST", str(sending.target.callback_url),
        headers={"Content-Type": "application/json", "User-Agent": user_agent(),
                 DELIVERY_HEADER: sending.delivery_id,
                 GENERIC_TIMESTAMP_HEADER: str(timestamp),
                 GENERIC_SIGNATURE_HEADER: generic_signature(secret, timestamp, body)},
        data=body, timeout_s=sending.timeout_s, what="the callback")
    if 200 <= answer.status < 300:
        return Sent(remote_id=None, status=answer.status)
    if answer.status == 429:
        raise ReportFailed("the callback answered HTTP 429 (rate limited)", maybe_sent=False,
                           retry_after_s=header_wait_s(answer.headers), status=429)
    if answer.status >= 500 or answer.status in _RETRIED:
        raise ReportFailed(f"the callback answered HTTP {answer.status}", status=answer.status)
    if 300 <= answer.status < 400:
        raise ReportFailed(f"the callback answered HTTP {answer.status} (a redirect, not "
                           f"followed); expected callback_url to be the receiver itself",
                           permanent=True, maybe_sent=False, status=answer.status)
    raise ReportFailed(f"the callback refused the verdict (HTTP {answer.status})",
                       permanent=True, maybe_sent=False, status=answer.status)


REPORTER = Reporter(kind=CALLBACK, label="signed callback", describe=_describe, ready=_ready,
                    prepare=_prepare, send=_send)
