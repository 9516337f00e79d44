"""Deliveries as the senders make them, written from their documented shapes.

- GitHub: the `deployment_status` event (REST "deployment status" and "deployment" objects, the
  repository, the sender) and the `ping` event sent when a webhook is created, with the headers
  GitHub sends (`X-GitHub-Event`, `X-GitHub-Delivery`, `X-Hub-Signature-256`, ...).
- Argo CD: the body its notifications controller renders from the template documented in
  `bot/webhooks/argocd.py`, including Go's `<no value>` for a field the app does not have.
- The generic webhook: the documented body, signed over `{timestamp}.{body}`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bot.webhooks.verify import generic_signature, github_signature

__all__ = ["argocd_headers", "argocd_notification", "generic_body", "generic_headers",
           "github_deployment_status", "github_headers", "github_ping", "to_body"]

OWNER = {"login": "acme", "id": 9919, "node_id": "MDEyOk9yZ2FuaXphdGlvbjk5MTk=",
         "avatar_url": "https://avatars.githubusercontent.com/u/9919?v=4", "gravatar_id": "",
         "url": "https://api.github.com/users/acme", "html_url": "https://github.com/acme",
         "type": "Organization", "site_admin": False}


def _user(login: str, user_id: int) -> dict[str, Any]:
    return {"login": login, "id": user_id, "node_id": f"MDQ6VXNlcj{user_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "", "url": f"https://api.github.com/users/{login}",
            "html_url": f"https://github.com/{login}", "type": "User", "site_admin": False}


REPOSITORY = {
    "id": 518_812_001, "node_id": "R_kgDOHurG4Q", "name": "shop", "full_name": "acme/shop",
    "private": True, "owner": OWNER, "html_url": "https://github.com/acme/shop",
    "description": "The shop", "fork": False, "url": "https://api.github.com/repos/acme/shop",
    "deployments_url": "https://api.github.com/repos/acme/shop/deployments",
    "created_at": "2022-07-28T09:12:44Z", "updated_at": "2030-01-02T08:00:01Z",
    "pushed_at": "2030-01-02T07:58:40Z", "default_branch": "main", "visibility": "private",
}


def github_deployment_status(*, state: str = "success", environment: str = "staging",
                             sha: str = "9f2c1e7ab4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9",
                             ref: str = "main", deployment_id: int = 1_204_885_102,
                             status_id: int = 2_390_118_774, creator: str = "octocat",
                             version: str | None = None) -> dict[str, Any]:
    """A `deployment_status` event with `action: created`."""
    deployment_url = f"https://api.github.com/repos/acme/shop/deployments/{deployment_id}"
    person = _user(creator, 583_231)
    return {
        "action": "created",
        "deployment_status": {
            "url": f"{deployment_url}/statuses/{status_id}",
            "id": status_id, "node_id": "DES_kwDOHurG4c6OdJ9W", "state": state,
            "creator": person, "description": "Deployed by the pipeline",
            "environment": environment,
            "target_url": f"https://github.com/acme/shop/actions/runs/7781{status_id % 1000}",
            "created_at": "2030-01-02T08:03:10Z", "updated_at": "2030-01-02T08:03:10Z",
            "deployment_url": deployment_url,
            "repository_url": "https://api.github.com/repos/acme/shop",
            "environment_url": f"https://{environment}.shop.example.com",
            "log_url": f"https://github.com/acme/shop/actions/runs/7781{status_id % 1000}",
            "performed_via_github_app": None,
        },
        "deployment": {
            "url": deployment_url, "id": deployment_id, "node_id": "DE_kwDOHurG4c5HzT1u",
            "task": "deploy", "original_environment": environment, "environment": environment,
            "description": None, "created_at": "2030-01-02T08:00:05Z",
            "updated_at": "2030-01-02T08:03:10Z", "statuses_url": f"{deployment_url}/statuses",
            "repository_url": "https://api.github.com/repos/acme/shop", "creator": person,
            "sha": sha, "ref": ref,
            "payload": {"version": version} if version is not None else {},
            "transient_environment": False, "production_environment": environment == "production",
            "performed_via_github_app": None,
        },
        "check_run": None, "workflow": None, "workflow_run": None,
        "repository": REPOSITORY, "organization": {"login": "acme", "id": 9919},
        "sender": person,
    }


def github_ping(hook_id: int = 431_775_102) -> dict[str, Any]:
    return {
        "zen": "Design for failure.",
        "hook_id": hook_id,
        "hook": {"type": "Repository", "id": hook_id, "name": "web", "active": True,
                 "events": ["deployment_status"],
                 "config": {"content_type": "json", "insecure_ssl": "0",
                            "url": "https://smokebot.example.com/webhooks/github"},
                 "updated_at": "2030-01-02T07:00:00Z", "created_at": "2030-01-02T07:00:00Z",
                 "url": f"https://api.github.com/repos/acme/shop/hooks/{hook_id}",
                 "ping_url": f"https://api.github.com/repos/acme/shop/hooks/{hook_id}/pings",
                 "last_response": {"code": None, "status": "unused", "message": None}},
        "repository": REPOSITORY, "sender": _user("octocat", 583_231),
    }


def github_headers(secret: str, body: bytes, *, event: str = "deployment_status",
                   delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958") -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/a1b2c3d",
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "431775102",
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "518812001",
            "X-Hub-Signature": "sha1=0000000000000000000000000000000000000000",
            "X-Hub-Signature-256": github_signature(secret, body)}


def argocd_notification(*, application: str = "shop-staging",
                        revision: str = "4b6e2f1c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
                        sync: str = "Synced", health: str = "Healthy",
                        phase: str = "Succeeded", target_revision: str = "v2.8.1",
                        finished_at: str = "2030-01-02T08:05:31Z",
                        initiated_by: str = "<no value>",
                        version: str = "<no value>") -> dict[str, Any]:
    """The template's rendering; an automated sync has no username, so Go prints <no value>."""
    return {
        "application": application, "project": "shop",
        "sync_status": sync, "health_status": health, "operation_phase": phase,
        "revision": revision, "target_revision": target_revision,
        "repo_url": "https://github.com/acme/shop-deploy.git", "finished_at": finished_at,
        "initiated_by": initiated_by, "version": version,
        "app_url": f"https://argocd.example.com/applications/{application}",
    }


def argocd_headers(token: str) -> dict[str, str]:
    # Argo CD's webhook service sends the headers configured for it, and its own user agent.
    return {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1",
            "X-Smokebot-Token": token}


def generic_body(**fields: Any) -> dict[str, Any]:
    body = {"environment": "prod", "version": "1.4.2",
            "commit": "0c8e4a1b2f3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f", "ref": "main",
            "deployer": "ci@example.com", "url": "https://shop.example.com",
            "link": "https://ci.example.com/pipelines/812"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def generic_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                    key: str | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", "User-Agent": "curl/8.5.0",
               "X-Smokebot-Timestamp": str(ts),
               "X-Smokebot-Signature": generic_signature(secret, ts, body)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def to_body(payload: Any) -> bytes:
    # GitHub sends compact JSON; the signature covers these exact bytes.
    return json.dumps(payload, separators=(",", ":")).encode()
