"""What the webhook guard's tests share: the secrets (each a canary: none may reach a log), the
suite, and what the `served` fixture (conftest.py) yields."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from starlette.applications import Starlette

from bot.queue import RunQueue

__all__ = ["SECRETS", "SUITE", "Served"]

SECRETS = {"github": "gh-fuzz-CANARY-1d5e9a3f7b2c", "argocd": "argocd-fuzz-CANARY-8c2e6a0d4f1b",
           "deploy": "deploy-fuzz-CANARY-3f7b1d5e9a2c"}

SUITE = """
suite: shop
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
    slack: {channel: C0STAGING}
    deploy:
      github: [staging]
      argocd: [shop-staging]
      generic: [prod]
      coalesce_window: 100ms
categories:
  - name: API
    checks:
      - id: health
        type: http
        url: ${base_url}/healthz
"""


@dataclass(frozen=True)
class Served:
    url: str
    app: Starlette
    dsn: str
    queue: RunQueue

    def runs_created(self) -> int:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM smokebot.runs").fetchone()
        return int(row[0]) if row else 0
