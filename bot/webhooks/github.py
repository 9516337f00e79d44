"""GitHub `deployment_status` events as DeployNotices.

GitHub sends one `deployment_status` event each time a deployment's status changes (queued,
in_progress, success, failure, error, inactive); only `success` starts a run. The event carries
the status (`state`, `environment`, `environment_url`, `log_url`, `target_url`) and the
deployment it belongs to (`id`, `sha`, `ref`, `environment`, `creator`, `payload`).

Facts taken: commit = `deployment.sha`; ref = `deployment.ref`; version = `deployment.payload.
version` when the deployment was created with one, else the ref; deployer = the deployment's
creator; url = the status's `environment_url`; link = the status's `log_url` (or `target_url`),
else the repository's deployments page for that environment.

The deployment (repository and id) is where the run's verdict is reported back, as a deployment
status (bot/report_back/github.py). GitHub sends a `deployment_status` event for that status too:
one whose description starts with smokebot's mark is ignored, or a verdict of `success` would
start the next run.

Authenticated by `X-Hub-Signature-256` (`verify.py`); a `ping` (sent when the webhook is created)
and any other event are answered and recorded as ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from bot.records import ReportTarget
from bot.report_back.names import GITHUB_DEPLOYMENT, STATUS_PREFIX
from bot.webhooks.notice import (
    DeployNotice,
    Ignored,
    MalformedPayload,
    json_body,
    optional_text,
    required_text,
)
from bot.webhooks.verify import GITHUB_SIGNATURE_HEADER, verify_github
from checks.secrets import Secret

__all__ = ["DELIVERY_HEADER", "EVENT_HEADER", "NAME", "RECORDED_HEADERS", "parse",
           "parse_deployment_status", "verify"]

NAME = "github"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
RECORDED_HEADERS = ("x-github-event", "x-github-delivery", "x-github-hook-id",
                    "x-github-hook-installation-target-type",
                    "x-github-hook-installation-target-id")
# GitHub's owner and repository names: letters, digits, '-', '_' and '.'. Anything else is not
# a repository the API could be asked about, so no report is owed to it.
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


def verify(headers: Mapping[str, str], body: bytes, secret: Secret) -> None:
    verify_github(secret, body, headers.get(GITHUB_SIGNATURE_HEADER))


def parse(headers: Mapping[str, str], body: bytes) -> DeployNotice | Ignored:
    delivery = (headers.get(DELIVERY_HEADER) or "").strip()
    if not delivery:
        raise MalformedPayload(f"missing {DELIVERY_HEADER} header")
    event = (headers.get(EVENT_HEADER) or "").strip()
    payload = json_body(headers, body)
    if event == "ping":
        hook = payload.get("hook_id") if isinstance(payload, dict) else None
        if not isinstance(hook, int) or isinstance(hook, bool):
            hook = None  # the record keeps GitHub's number, never whatever else was sent
        return Ignored(delivery, "ping: the GitHub webhook reaches smokebot",
                       {"event": "ping", "hook_id": hook}, status=200)
    if event != "deployment_status":
        return Ignored(delivery, f"event '{event or '(none)'}' is not deployment_status; "
                                 f"expected the webhook to send deployment statuses only",
                       {"event": event})
    notice = parse_deployment_status(delivery, payload)
    if (optional_text(payload, "deployment_status.description") or "").startswith(
            STATUS_PREFIX):
        return Ignored(delivery, f"{notice.description} reports '{notice.state}' as smokebot's "
                                 f"own verdict (reported back); only the deploy's own status "
                                 f"starts a run", {"event": event, "state": notice.state})
    return notice


def parse_deployment_status(delivery_id: str, payload: Any) -> DeployNotice:
    """Raises MalformedPayload naming the first missing or mistyped field."""
    if not isinstance(payload, dict):
        raise MalformedPayload("expected a deployment_status event object")
    state = required_text(payload, "deployment_status.state")
    environment = (optional_text(payload, "deployment_status.environment")
                   or required_text(payload, "deployment.environment"))
    deployment_id = required_text(payload, "deployment.id", number_ok=True)
    commit = required_text(payload, "deployment.sha")
    ref = optional_text(payload, "deployment.ref")
    repository = optional_text(payload, "repository.full_name")
    link = (optional_text(payload, "deployment_status.log_url")
            or optional_text(payload, "deployment_status.target_url"))
    if link is None and (html_url := optional_text(payload, "repository.html_url")):
        link = f"{html_url}/deployments/{quote(environment, safe='')}"
    of = f" of {repository}" if repository else ""
    return DeployNotice(
        source=NAME, delivery_id=delivery_id, environment=environment,
        state=state, succeeded=state == "success",
        description=f"GitHub deployment {deployment_id}{of} to {environment}",
        version=_version(payload) or ref, commit=commit, ref=ref,
        deployer=(optional_text(payload, "deployment.creator.login")
                  or optional_text(payload, "sender.login")),
        url=optional_text(payload, "deployment_status.environment_url"), link=link,
        report_to=_report_target(repository, deployment_id))


def _report_target(repository: str | None, deployment_id: str) -> ReportTarget | None:
    if repository is None or not _REPOSITORY.fullmatch(repository):
        return None
    if not (deployment_id.isascii() and deployment_id.isdigit()):
        return None
    return ReportTarget(kind=GITHUB_DEPLOYMENT, source=NAME, repository=repository,
                        deployment_id=deployment_id)


def _version(payload: dict[str, Any]) -> str | None:
    # `payload` is whatever the deployment's creator attached: often {}, sometimes a string.
    extra = (payload.get("deployment") or {}).get("payload")
    if not isinstance(extra, dict):
        return None
    try:
        return optional_text(extra, "version", number_ok=True)
    except MalformedPayload:  # not ours to refuse: a version we cannot use is no version
        return None
