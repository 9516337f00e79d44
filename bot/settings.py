"""The bot's settings, read from environment variables (documented in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from checks.errors import UsageError
from checks.secrets import Secret

__all__ = ["Settings"]

SLACK_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None  # Socket Mode only
    slack_api_url: str = SLACK_API_URL
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    config_path: str = "smoketest.yaml"
    key_prefix: str = "smokebot"  # Redis keys; tests give each test its own
    db_schema: str = "smokebot"  # PostgreSQL schema holding the history
    update_interval_s: float = 1.0  # at most one summary update a second
    heartbeat_s: float = 5.0
    stale_after_s: float = 30.0
    webhook_secrets: Mapping[str, Secret] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def secret(name: str) -> Secret | None:
            value = env.get(name)
            return Secret(value) if value else None

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                raise UsageError(f"{name} must be a number of seconds, got {raw!r}") from None

        api_url = env.get("SLACK_API_URL") or SLACK_API_URL
        webhook_secrets = {source: s for source in ("github", "argocd", "deploy")
                           if (s := secret(f"SMOKEBOT_{source.upper()}_WEBHOOK_SECRET"))}
        return cls(
            slack_bot_token=secret("SLACK_BOT_TOKEN"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_app_token=secret("SLACK_APP_TOKEN"),
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",
            redis_url=env.get("REDIS_URL") or cls.redis_url,
            database_url=env.get("DATABASE_URL") or cls.database_url,
            config_path=env.get("SMOKEBOT_CONFIG") or cls.config_path,
            key_prefix=env.get("SMOKEBOT_KEY_PREFIX") or cls.key_prefix,
            db_schema=env.get("SMOKEBOT_DB_SCHEMA") or cls.db_schema,
            update_interval_s=number("SMOKEBOT_UPDATE_INTERVAL", cls.update_interval_s),
            heartbeat_s=number("SMOKEBOT_HEARTBEAT", cls.heartbeat_s),
            stale_after_s=number("SMOKEBOT_STALE_AFTER", cls.stale_after_s),
            webhook_secrets=webhook_secrets,
        )

    def secrets(self) -> list[Secret]:
        """Every secret the bot holds, for the process-wide redactor."""
        found = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                 *self.webhook_secrets.values()]
        return [s for s in found if s is not None]
