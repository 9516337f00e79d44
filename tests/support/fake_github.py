"""A fake GitHub REST API: a Starlette app on loopback that answers the real deployment-status
paths with the real shapes, so smokebot's reporter talks to it over real HTTP as to
api.github.com.

    POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses   201, a deployment status
    GET  /repos/{owner}/{repo}/deployments/{deployment_id}/statuses   200, newest first
    GET  /zen                                                         200, text (a check's target)

Like GitHub it answers 401 without `Authorization: Bearer <token>` (or `token <token>`), 403
without a User-Agent, 404 for a deployment it does not have, 400 for an API version other than
2022-11-28, and 422 ("Validation Failed" with the field) for a state outside the documented
enum or a description over 140 characters; a created status copies `log_url` into `target_url`,
as GitHub does. Stricter than GitHub, so that a mistake of ours fails a test: it also refuses
(400) a request without `Accept: application/vnd.github+json` or without the version header,
and (422) a field the endpoint does not document.

A test scripts what the next POSTs meet (`script`): an error status, a rate limit with its
headers, a hang (before or after the status is created, as a timeout can fall either side).
Everything received is recorded (`received`), the Authorization header included, so a test can
count where the token went.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.asgi import serve_asgi

__all__ = ["API_VERSION", "FakeGitHub", "Received", "Scripted", "hang", "rate_limited",
           "status"]

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
DOCS = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status"
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
FIELDS = ("state", "target_url", "log_url", "description", "environment", "environment_url",
          "auto_inactive")
BOT = {"login": "smokebot-ci[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
       "type": "Bot", "site_admin": False}


@dataclass(frozen=True)
class Scripted:
    """What one POST meets instead of a plain 201: `status` with `body` and `headers` (201:
    created as usual), after `hang_s` seconds; `create` makes the status before answering (a
    5xx or a hang after GitHub did its work)."""

    status: int = 201
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0
    create: bool = False


def status(code: int, message: str = "Server Error") -> Scripted:
    return Scripted(status=code, body={"message": message})


def hang(seconds: float, *, create: bool = False) -> Scripted:
    return Scripted(status=201 if create else 502, hang_s=seconds, create=create)


def rate_limited(*, retry_after: int | None = None, secondary: bool = True,
                 code: int = 403) -> Scripted:
    """GitHub's answer to a request over a rate limit: secondary (with `retry-after` when
    given) or primary (`x-ratelimit-remaining: 0` and the reset time)."""
    if secondary:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        message = ("You have exceeded a secondary rate limit. Please wait a few minutes "
                   "before you try again.")
    else:
        headers = {"x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": str(int(time.time()) + (retry_after or 60))}
        message = "API rate limit exceeded for user ID 41898282."
    return Scripted(status=code, headers=headers,
                    body={"message": message, "documentation_url": DOCS})


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lowercase names
    body: Any


class FakeGitHub:
    def __init__(self, token: str) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self._statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._script: list[Scripted] = []
        self._next_id = 2_390_118_775
        self.received: list[Received] = []
        self.closing = False
        self.app = Starlette(routes=[
            Route("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
                  self._statuses_endpoint, methods=["GET", "POST"]),
            Route("/zen", self._zen, methods=["GET"]),
        ])

    # --- what a test sets and reads -----------------------------------------------------------

    def add_deployment(self, repository: str, deployment_id: int | str, *,
                       environment: str = "staging") -> None:
        with self._lock:
            key = (repository.lower(), str(deployment_id))
            self._deployments[key] = {"environment": environment}
            self._statuses.setdefault(key, [])

    def script(self, *answers: Scripted) -> None:
        """The next POSTs (to any deployment) meet these, in order; then plain 201s."""
        with self._lock:
            self._script.extend(answers)

    def statuses(self, repository: str, deployment_id: int | str) -> list[dict[str, Any]]:
        """The deployment's statuses, newest first."""
        with self._lock:
            return list(self._statuses.get((repository.lower(), str(deployment_id)), []))

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def lookups(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "GET" and r.path != "/zen"]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Yields the API's base URL (http://127.0.0.1:PORT) while it is served."""
        self.closing = False
        with serve_asgi(self.app) as url:
            try:
                yield url
            finally:
                self.closing = True  # a hanging answer ends, so the server can stop

    # --- the endpoints ----------------------------------------------------------------------

    async def _zen(self, request: Request) -> Response:
        return PlainTextResponse("Design for failure.")

    async def _statuses_endpoint(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = await request.json() if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.received.append(Received(request.method, request.url.path,
                                          {k.lower(): v for k, v in request.headers.items()},
                                          body))
        refused = self._refused(request)
        if refused is not None:
            return refused
        key = (f"{request.path_params['owner']}/{request.path_params['repo']}".lower(),
               str(request.path_params["deployment_id"]))
        with self._lock:
            known = key in self._deployments
        if not known:
            return _error(404, "Not Found")
        if request.method == "GET":
            return self._list(request, key)
        return await self._create(request, key, body)

    def _refused(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization")
        if not auth:
            return _error(401, "Requires authentication")
        scheme, _, presented = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or presented != self.token:
            return _error(401, "Bad credentials")
        if not request.headers.get("user-agent"):
            return _error(403, "Request forbidden by administrative rules. Please make sure "
                               "your request has a User-Agent header")
        version = request.headers.get("x-github-api-version")
        if version is not None and version != API_VERSION:
            return _error(400, f"Unsupported 'X-GitHub-Api-Version' header '{version}'")
        if version is None:  # the fake's own strictness: GitHub would assume 2022-11-28
            return _error(400, "fake GitHub: expected X-GitHub-Api-Version: 2022-11-28")
        if MEDIA_TYPE not in (request.headers.get("accept") or ""):
            return _error(400, f"fake GitHub: expected Accept: {MEDIA_TYPE}")
        return None

    def _list(self, request: Request, key: tuple[str, str]) -> Response:
        per_page = min(100, int(request.query_params.get("per_page", "30")))
        with self._lock:
            found = self._statuses[key][:per_page]
        return JSONResponse(found, headers=_rate_headers())

    async def _create(self, request: Request, key: tuple[str, str], body: Any) -> Response:
        with self._lock:
            scripted = self._script.pop(0) if self._script else Scripted()
        problem = _invalid(body)
        if problem is not None:
            return JSONResponse({"message": "Validation Failed", "errors": [problem],
                                 "documentation_url": DOCS, "status": "422"}, status_code=422)
        created = self._add_status(request, key, body) if scripted.create or (
            scripted.status == 201 and not scripted.hang_s) else None
        deadline = time.monotonic() + scripted.hang_s
        while time.monotonic() < deadline and not self.closing:
            await asyncio.sleep(0.05)
        if scripted.hang_s:  # the client gave up long ago: whatever is answered, nobody reads it
            return _error(502, "Server Error")
        if scripted.status == 201:
            return JSONResponse(created, status_code=201, headers=_rate_headers())
        return JSONResponse(scripted.body or {"message": "Server Error"},
                            status_code=scripted.status, headers=scripted.headers)

    def _add_status(self, request: Request, key: tuple[str, str],
                    body: dict[str, Any]) -> dict[str, Any]:
        repository, deployment_id = key
        api = f"{request.url.scheme}://{request.url.netloc}"
        deployment_url = f"{api}/repos/{repository}/deployments/{deployment_id}"
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            status_id = self._next_id
            self._next_id += 1
            log_url = body.get("log_url", body.get("target_url", ""))
            created = {
                "url": f"{deployment_url}/statuses/{status_id}", "id": status_id,
                "node_id": f"DES_kwDO{status_id}", "state": body["state"], "creator": BOT,
                "description": body.get("description", ""),
                "environment": body.get("environment",
                                        self._deployments[key]["environment"]),
                "target_url": log_url, "log_url": log_url,
                "environment_url": body.get("environment_url", ""),
                "created_at": now, "updated_at": now, "deployment_url": deployment_url,
                "repository_url": f"{api}/repos/{repository}",
                "performed_via_github_app": None}
            self._statuses[key].insert(0, created)
        return created


def _invalid(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return {"resource": "DeploymentStatus", "code": "invalid", "field": "body"}
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        return {"resource": "DeploymentStatus", "code": "unknown_field", "field": unknown[0]}
    if body.get("state") not in STATES:
        return {"resource": "DeploymentStatus", "code": "invalid", "field": "state"}
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 140:
        return {"resource": "DeploymentStatus", "code": "custom", "field": "description",
                "message": "description is too long (maximum is 140 characters)"}
    if not isinstance(body.get("auto_inactive", True), bool):
        return {"resource": "DeploymentStatus", "code": "invalid", "field": "auto_inactive"}
    return None


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "documentation_url": DOCS, "status": str(code)},
                        status_code=code)


def _rate_headers() -> dict[str, str]:
    return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1", "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core", "x-github-api-version-selected": API_VERSION}
