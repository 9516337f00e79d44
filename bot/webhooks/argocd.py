"""Argo CD notifications as DeployNotices.

Argo CD's notifications controller sends webhooks whose body is a template the operator writes
in `argocd-notifications-cm`. smokebot reads this body (docs: "Deploy webhooks"):

    service.webhook.smokebot: |
      url: https://smokebot.example.com/webhooks/argocd
      headers:
      - name: Content-Type
        value: application/json
      - name: X-Smokebot-Token
        value: $smokebot-webhook-secret
    template.smokebot-deployed: |
      webhook:
        smokebot:
          method: POST
          body: |
            {
              "application": "{{.app.metadata.name}}",
              "project": "{{.app.spec.project}}",
              "sync_status": "{{.app.status.sync.status}}",
              "health_status": "{{.app.status.health.status}}",
              "operation_phase": "{{.app.status.operationState.phase}}",
              "revision": "{{.app.status.operationState.syncResult.revision}}",
              "target_revision": "{{.app.spec.source.targetRevision}}",
              "repo_url": "{{.app.spec.source.repoURL}}",
              "finished_at": "{{.app.status.operationState.finishedAt}}",
              "initiated_by": "{{.app.status.operationState.operation.initiatedBy.username}}",
              "version": "{{index .app.metadata.labels \"app.kubernetes.io/version\"}}",
              "app_url": "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}"
            }
    trigger.on-deployed: ...   # the catalog's: synced and healthy, once per commit

A run starts when the sync operation Succeeded, the app is Synced and Healthy. Go templates
render a missing value as `<no value>`: such a field counts as absent. Argo CD sends no delivery
id, so the delivery is identified by application, revision and the operation's `finished_at`:
a resent notification is the same delivery, a new sync of the same revision is a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.webhooks.notice import (
    DeployNotice,
    MalformedPayload,
    json_body,
    optional_text,
    required_text,
)
from bot.webhooks.verify import ARGOCD_TOKEN_HEADER, verify_shared_secret
from checks.secrets import Secret

__all__ = ["NAME", "parse", "parse_notification", "verify"]

NAME = "argocd"
_NO_VALUE = "<no value>"


def verify(headers: Mapping[str, str], body: bytes, secret: Secret) -> None:
    verify_shared_secret(secret, headers.get(ARGOCD_TOKEN_HEADER), ARGOCD_TOKEN_HEADER)


def parse(headers: Mapping[str, str], body: bytes) -> DeployNotice:
    return parse_notification(json_body(headers, body))


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = optional_text(payload, name)
    return None if value == _NO_VALUE else value


def parse_notification(payload: Any) -> DeployNotice:
    """Raises MalformedPayload naming the first missing or mistyped field."""
    if not isinstance(payload, dict):
        raise MalformedPayload("expected a JSON object rendered from the smokebot template")
    application = required_text(payload, "application")
    if application == _NO_VALUE:
        raise MalformedPayload("field 'application' is '<no value>'; expected "
                               "{{.app.metadata.name}} in the template")
    revision = _text(payload, "revision")
    if revision is None:
        raise MalformedPayload("missing field 'revision'; expected "
                               "{{.app.status.operationState.syncResult.revision}}")
    sync = _text(payload, "sync_status") or "Unknown"
    health = _text(payload, "health_status") or "Unknown"
    phase = _text(payload, "operation_phase") or "Unknown"
    finished_at = _text(payload, "finished_at")
    target = _text(payload, "target_revision")
    return DeployNotice(
        source=NAME,
        delivery_id=":".join(p for p in (application, revision, finished_at) if p),
        environment=application, state=f"{sync}/{health} (operation {phase})",
        succeeded=(phase == "Succeeded" and sync == "Synced" and health == "Healthy"),
        description=f"Argo CD sync of {application}",
        version=_text(payload, "version") or (target if target not in (None, "HEAD") else None),
        commit=revision, ref=target, deployer=_text(payload, "initiated_by"),
        url=None, link=_text(payload, "app_url"))
