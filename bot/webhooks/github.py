"""GitHub `deployment_status` events as DeployNotices.

GitHub sends one `deployment_status` event each time a deployment's status changes (queued,
in_progress, success, failure, error, inactive); only `success` starts a run. The event carries
the status (`state`, `environment`, `environment_url`, `log_url`, `target_url`) and the
deployment it belongs to (`id`, `sha`, `ref`, `environment`, `creator`, `payload`).

Facts taken: commit = `deployment.sha`; ref = `deployment.ref`; version = `deployment.payload.
version` when the deployment was created with one, else the ref; deployer = the deployment's
creator; url = the status's `environment_url`; link = the status's `log_url` (or `target_url`),
else the repository's deployments page for that environment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.store import WebhookSource
from bot.webhooks.notice import DeployNotice, MalformedPayload, optional_text, required_text

__all__ = ["DELIVERY_HEADER", "EVENT_HEADER", "parse_deployment_status"]

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"


def parse_deployment_status(delivery_id: str, payload: Any) -> DeployNotice:
    """Raises MalformedPayload naming the first missing or mistyped field."""
    if not isinstance(payload, dict):
        raise MalformedPayload("expected a deployment_status event object")
    state = required_text(payload, "deployment_status.state")
    environment = (optional_text(payload, "deployment_status.environment")
                   or required_text(payload, "deployment.environment"))
    deployment_id = required_text(payload, "deployment.id")
    commit = required_text(payload, "deployment.sha")
    ref = optional_text(payload, "deployment.ref")
    repository = optional_text(payload, "repository.full_name")
    link = (optional_text(payload, "deployment_status.log_url")
            or optional_text(payload, "deployment_status.target_url"))
    if link is None and (html_url := optional_text(payload, "repository.html_url")):
        link = f"{html_url}/deployments/{quote(environment, safe='')}"
    of = f" of {repository}" if repository else ""
    return DeployNotice(
        source=WebhookSource.GITHUB, delivery_id=delivery_id, environment=environment,
        state=state, succeeded=state == "success",
        description=f"GitHub deployment {deployment_id}{of} to {environment}",
        version=_version(payload) or ref, commit=commit, ref=ref,
        deployer=(optional_text(payload, "deployment.creator.login")
                  or optional_text(payload, "sender.login")),
        url=optional_text(payload, "deployment_status.environment_url"), link=link)


def _version(payload: dict[str, Any]) -> str | None:
    # `payload` is whatever the deployment's creator attached: often {}, sometimes a string.
    extra = (payload.get("deployment") or {}).get("payload")
    if isinstance(extra, dict) and isinstance(extra.get("version"), str | int | float):
        return str(extra["version"]).strip() or None
    return None
