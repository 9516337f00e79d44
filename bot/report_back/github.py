"""The verdict as a GitHub deployment status, on the deployment whose `deployment_status` event
started the run.

Why a deployment status, not a commit status or a check run: the GitHub source accepts only
`deployment_status` events, so every run it starts knows its deployment, and the verdict is a
fact about that deployment in that environment (the same commit may be deployed to staging and
production, and pass in one only). It shows on the deployment and the environment's page, with
the run page as its link. A commit status (`POST /repos/{o}/{r}/statuses/{sha}`, context
`smokebot/<env>`) would fit a push or workflow event that has only a sha, which the source does
not accept; a check run needs a GitHub App.

    POST {SMOKEBOT_GITHUB_API_URL}/repos/{owner}/{repo}/deployments/{deployment_id}/statuses
    Accept: application/vnd.github+json
    X-GitHub-Api-Version: 2022-11-28
    Authorization: Bearer <SMOKEBOT_GITHUB_TOKEN>

    {"state": "failure", "description": "smokebot: staging failed: 2 of 12 checks failed
     (run 1a2b3c4d)", "log_url": "<the run page>", "environment_url": "<the deploy's>",
     "auto_inactive": false}

States: passed -> success, failed -> failure; error, interrupted and cancelled -> error (the
deploy is not verified). A superseded run reports nothing: a newer deploy's run tests the
environment and reports to its own deployment. `log_url` (which GitHub copies into
`target_url`) is the run page's signed link when SMOKEBOT_PUBLIC_URL is set. `environment_url`
is passed on as the deploy gave it: a status without one would clear the environment's link.
`auto_inactive: false`: our status must not mark other deployments inactive (the deploy's own
success already did). The description (at most 140 characters) starts with `smokebot: `, by
which the GitHub source knows the event GitHub sends for it, and ends with the run's mark, by
which an attempt in doubt is found among the deployment's statuses.

The token is only ever sent to SMOKEBOT_GITHUB_API_URL (never to a URL from a payload) and the
target is built from the repository's name and the deployment's id, checked when they arrived.

Answers: 201 is delivered. 401 (bad token), 403 without a rate limit (the token may not write
deployments), 404 (no such deployment, or the token cannot see it) and 422 (validation) are
permanent. A rate limit (429, or 403 with `retry-after`, `x-ratelimit-remaining: 0` or a
"rate limit" message) proves nothing was created: retried after `retry-after`, else after
`x-ratelimit-reset`, else after a minute, as GitHub's documentation asks. A 5xx or a timeout
may have created the status: looked for before it is sent again.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from bot.errors import ReportFailed
from bot.records import ReportTarget, Run, RunStatus
from bot.report_back.base import Prepared, Reporter, Sending, Sent
from bot.report_back.http import Answer, exchange, header_wait_s, user_agent
from bot.report_back.names import GITHUB_DEPLOYMENT, STATUS_PREFIX
from bot.report_back.verdict import run_mark, verdict_words
from bot.settings import Settings

__all__ = ["API_VERSION", "MAX_DESCRIPTION", "MEDIA_TYPE", "REPORTER", "status_body"]

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
MAX_DESCRIPTION = 140
RATE_LIMITED_WAIT_S = 60.0  # a secondary rate limit that says nothing: "wait at least a minute"
_STATES = {RunStatus.PASSED: "success", RunStatus.FAILED: "failure", RunStatus.ERROR: "error",
           RunStatus.INTERRUPTED: "error", RunStatus.CANCELLED: "error"}
_LISTED = 100  # statuses looked at for one in doubt: the newest, where ours would be


def status_body(run: Run, run_url: str | None) -> dict[str, Any] | None:
    """The deployment status for the ended run; None when there is nothing to report."""
    state = _STATES.get(run.status)
    if state is None:
        return None
    body: dict[str, Any] = {"state": state, "description": _description(run),
                            "auto_inactive": False}
    if run_url:
        body["log_url"] = run_url
    environment_url = run.deploy.url if run.deploy is not None else None
    if environment_url and environment_url.startswith(("https://", "http://")):
        body["environment_url"] = environment_url
    return body


def _description(run: Run) -> str:
    mark = f" {run_mark(run.id)}"
    words = verdict_words(run)
    room = MAX_DESCRIPTION - len(STATUS_PREFIX) - len(mark)
    if len(words) > room:
        words = words[:room - 1].rstrip() + "…"
    return f"{STATUS_PREFIX}{words}{mark}"


def _prepare(run: Run, run_url: str | None) -> Prepared | str:
    body = status_body(run, run_url)
    if body is None:
        return (f"not reported: the run was {run.status.value}; the newer deploy's run "
                f"reports to its own deployment")
    return Prepared(body=body, reported=str(body["state"]))


def _ready(settings: Settings, target: ReportTarget) -> str | None:
    if settings.github_token is None:
        return "SMOKEBOT_GITHUB_TOKEN is not set"
    if not target.repository or not target.deployment_id:
        return "the deploy named no repository and deployment"
    return None


def _describe(target: ReportTarget) -> str:
    return f"{target.repository} deployment {target.deployment_id}"


def _statuses_url(settings: Settings, target: ReportTarget) -> str:
    owner, _, repo = (target.repository or "").partition("/")
    return (f"{settings.github_api_url}/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
            f"/deployments/{quote(target.deployment_id or '', safe='')}/statuses")


def _headers(settings: Settings) -> dict[str, str]:
    assert settings.github_token is not None  # _ready said so
    return {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {settings.github_token.reveal()}",
            "User-Agent": user_agent(), "Content-Type": "application/json"}


async def _send(sending: Sending, prepared: Prepared) -> Sent:
    answer = await exchange(sending.http, "POST", _statuses_url(sending.settings, sending.target),
                            headers=_headers(sending.settings),
                            data=json.dumps(prepared.body).encode(),
                            timeout_s=sending.timeout_s, what="GitHub")
    if answer.status == 201:
        status_id = answer.payload.get("id") if isinstance(answer.payload, dict) else None
        return Sent(remote_id=str(status_id) if status_id is not None else None, status=201)
    raise _refusal(answer, sending.target)


async def _find(sending: Sending, run: Run) -> Sent | None:
    """Our status for the run among the deployment's newest, if an earlier attempt made it."""
    answer = await exchange(sending.http, "GET",
                            f"{_statuses_url(sending.settings, sending.target)}"
                            f"?per_page={_LISTED}",
                            headers=_headers(sending.settings), data=None,
                            timeout_s=sending.timeout_s, what="GitHub")
    if answer.status != 200:
        raise _refusal(answer, sending.target)
    mark = run_mark(run.id)
    for status in answer.payload if isinstance(answer.payload, list) else ():
        description = status.get("description") if isinstance(status, dict) else None
        if isinstance(description, str) and description.startswith(STATUS_PREFIX) \
                and description.endswith(mark):
            return Sent(remote_id=str(status.get("id")), status=200)
    return None


def _refusal(answer: Answer, target: ReportTarget) -> ReportFailed:
    status, message = answer.status, _message(answer.payload)
    said = f": {message}" if message else ""
    if status in (403, 429) and _rate_limited(answer, message):
        wait = header_wait_s(answer.headers)
        return ReportFailed(f"GitHub rate limit (HTTP {status}{said})", maybe_sent=False,
                            retry_after_s=RATE_LIMITED_WAIT_S if wait is None else wait,
                            status=status)
    if status >= 500:
        return ReportFailed(f"GitHub answered HTTP {status}{said}", status=status)
    if status == 401:
        problem = (f"GitHub refused the token (HTTP 401{said}); expected "
                   f"SMOKEBOT_GITHUB_TOKEN to be a valid token")
    elif status == 403:
        problem = (f"GitHub refused the token for {target.repository} (HTTP 403{said}); it "
                   f"needs the Deployments: write permission (repo_deployment for a classic "
                   f"token)")
    elif status == 404:
        problem = (f"GitHub has no deployment {target.deployment_id} in {target.repository} "
                   f"that the token can see (HTTP 404{said})")
    elif status == 422:
        problem = f"GitHub refused the deployment status (HTTP 422{said})"
    else:
        problem = f"GitHub answered HTTP {status}{said}"
    return ReportFailed(problem, permanent=True, maybe_sent=False, status=status)


def _rate_limited(answer: Answer, message: str) -> bool:
    return (answer.status == 429 or "retry-after" in answer.headers
            or answer.headers.get("x-ratelimit-remaining", "").strip() == "0"
            or "rate limit" in message.lower())


def _message(payload: Any) -> str:
    """GitHub's `message`, and a 422's field errors: `Validation Failed (state: invalid)`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return ""
    text = payload["message"]
    errors = payload.get("errors")
    if isinstance(errors, list):
        found = [f"{e.get('field')}: {e.get('code')}" if e.get("field") else str(
            e.get("message") or e.get("code")) for e in errors[:3] if isinstance(e, dict)]
        if found:
            text += f" ({'; '.join(found)})"
    return " ".join(text.split())[:200]


REPORTER = Reporter(kind=GITHUB_DEPLOYMENT, label="GitHub deployment status",
                    describe=_describe, ready=_ready, prepare=_prepare, send=_send, find=_find)
