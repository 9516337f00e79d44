"""The bot's settings, read from environment variables (documented in the README)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.errors import SettingError
from bot.webhooks.sources import deploy_sources
from checks.secrets import Secret

__all__ = ["WORKER_METRICS_PORT", "Settings", "debug_from_env", "traffic_lock_from_env"]

SLACK_API_URL = "https://slack.com/api/"
WORKER_METRICS_PORT = 9464  # the worker's /metrics unless told (the OpenTelemetry exporter's)
GITHUB_API_URL = "https://api.github.com"


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
    delivery_lease_s: float = 30.0  # a deliverer silent this long loses a run's messages
    webhook_secrets: Mapping[str, Secret] = field(default_factory=dict)  # by deploy source name
    # Retention in days (None: for ever), applied by the workers' hourly pruning pass.
    retain_runs_days: int | None = 90  # with their results and Slack message references
    retain_deliveries_days: int | None = 90  # accepted and ignored (authenticated) deliveries
    retain_rejected_days: int | None = 30  # unauthenticated or malformed ones
    retain_audit_days: int | None = 365  # who ran, or was refused, what: kept longest
    max_rejected_deliveries: int = 10_000  # per deploy source, whatever their age
    # The run pages (bot/pages/): where the web process is reached from a browser (no link in
    # Slack without it), how long a signed link stays valid, how often a running run's page
    # asks for news.
    public_url: str | None = None
    link_expiry_days: int = 30
    page_refresh_s: float = 5.0
    # Prometheus metrics (bot/metrics/, docs/metrics.md): each worker serves /metrics on a
    # port of its own (0: none; None: WORKER_METRICS_PORT, or none if another process of the
    # machine has it); the gauges that need a query are read this often.
    worker_metrics_host: str = "0.0.0.0"
    worker_metrics_port: int | None = None
    metrics_refresh_s: float = 15.0
    # Reporting a deploy's verdict back to GitHub as a deployment status (bot/report_back/):
    # without a token, GitHub deploys are not reported back. The API URL is GitHub Enterprise
    # Server's (https://HOST/api/v3), or a test's fake.
    github_token: Secret | None = None
    github_api_url: str = GITHUB_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def secret(name: str) -> Secret | None:
            value = env.get(name)
            return Secret(value) if value else None

        def number(name: str, default: float) -> float:
            return _seconds(env, name, default)

        def days(name: str, default: int | None) -> int | None:
            return _days(env, name, default)

        api_url = _url(env, "SLACK_API_URL", SLACK_API_URL, _HTTP, may_hold_password=False)
        webhook_secrets = {source.name: s for source in deploy_sources()
                           if (s := secret(source.secret_env))}
        return cls(
            slack_bot_token=secret("SLACK_BOT_TOKEN"),
            slack_signing_secret=secret("SLACK_SIGNING_SECRET"),
            slack_app_token=secret("SLACK_APP_TOKEN"),
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",
            redis_url=_url(env, "REDIS_URL", cls.redis_url, _REDIS, may_hold_password=True),
            database_url=_database_url(env, "DATABASE_URL", cls.database_url),
            config_path=env.get("SMOKEBOT_CONFIG") or cls.config_path,
            key_prefix=env.get("SMOKEBOT_KEY_PREFIX") or cls.key_prefix,
            db_schema=env.get("SMOKEBOT_DB_SCHEMA") or cls.db_schema,
            update_interval_s=number("SMOKEBOT_UPDATE_INTERVAL", cls.update_interval_s),
            heartbeat_s=number("SMOKEBOT_HEARTBEAT", cls.heartbeat_s),
            stale_after_s=number("SMOKEBOT_STALE_AFTER", cls.stale_after_s),
            delivery_lease_s=number("SMOKEBOT_DELIVERY_LEASE", cls.delivery_lease_s),
            webhook_secrets=webhook_secrets,
            retain_runs_days=days("SMOKEBOT_RETAIN_RUNS_DAYS", cls.retain_runs_days),
            retain_deliveries_days=days("SMOKEBOT_RETAIN_DELIVERIES_DAYS",
                                        cls.retain_deliveries_days),
            retain_rejected_days=days("SMOKEBOT_RETAIN_REJECTED_DAYS", cls.retain_rejected_days),
            retain_audit_days=days("SMOKEBOT_RETAIN_AUDIT_DAYS", cls.retain_audit_days),
            max_rejected_deliveries=_count(env, "SMOKEBOT_MAX_REJECTED_DELIVERIES",
                                           cls.max_rejected_deliveries),
            public_url=(_url(env, "SMOKEBOT_PUBLIC_URL", "", _HTTP, may_hold_password=False)
                        if (env.get("SMOKEBOT_PUBLIC_URL") or "").strip() else None),
            link_expiry_days=_count(env, "SMOKEBOT_LINK_EXPIRY_DAYS", cls.link_expiry_days),
            page_refresh_s=number("SMOKEBOT_PAGE_REFRESH", cls.page_refresh_s),
            worker_metrics_host=(env.get("SMOKEBOT_WORKER_METRICS_HOST") or "").strip()
            or cls.worker_metrics_host,
            worker_metrics_port=_port(env, "SMOKEBOT_WORKER_METRICS_PORT"),
            metrics_refresh_s=number("SMOKEBOT_METRICS_REFRESH", cls.metrics_refresh_s),
            github_token=secret("SMOKEBOT_GITHUB_TOKEN"),
            github_api_url=_url(env, "SMOKEBOT_GITHUB_API_URL", GITHUB_API_URL, _HTTP,
                                may_hold_password=False).rstrip("/"),
        )

    def secrets(self) -> list[Secret]:
        """Every secret the bot holds, for the process-wide redactor."""
        found = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                 self.github_token, *self.webhook_secrets.values()]
        return [s for s in found if s is not None]


# --- parsing one variable ---------------------------------------------------------------------
# Each parser names the variable, what it holds and what was expected. A value that may carry
# a password (a DSN, a Redis URL) is never quoted back: the message says what is wrong with it.

_HTTP = ("http", "https")
_REDIS = ("redis", "rediss", "unix")
_POSTGRES = ("postgresql", "postgres")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SettingError(f"{name}={raw!r}: expected a number of seconds > 0 "
                           f"(default {default:g})")
    return value


def _days(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """Whole days, or "forever" (None). 0 is refused, not read as "keep nothing" or "for
    ever": either reading would surprise someone, and one of them deletes history."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word == "forever":
        return None
    if not (word.isdigit() and word.isascii()) or int(word) < 1:
        shown = "forever" if default is None else f"{default}"
        raise SettingError(f"{name}={raw!r}: expected a whole number of days > 0, or 'forever' "
                           f"to keep them for ever (default {shown})")
    return int(word)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().replace("_", "")
    if not (word.isdigit() and word.isascii()) or int(word) < 1:
        raise SettingError(f"{name}={raw!r}: expected a whole number > 0 (default {default})")
    return int(word)


def _port(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    word = raw.strip()
    if not (word.isdigit() and word.isascii()) or int(word) > 65535:
        raise SettingError(f"{name}={raw!r}: expected a port number from 1 to 65535, or 0 for "
                           f"none (default {WORKER_METRICS_PORT})")
    return int(word)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise SettingError(f"{name}={raw!r}: expected 1, true, yes or on, or 0, false, no or off")


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...], *,
         may_hold_password: bool) -> str:
    """A URL with one of `schemes` and, but for unix://, a host."""
    raw = env.get(name) or default
    problem = _url_problem(raw, schemes)
    if problem:
        expected = " or ".join(f"{scheme}://" for scheme in schemes)
        shown = " (value not shown: it may hold a password)" if may_hold_password else f"={raw!r}"
        raise SettingError(f"{name}{shown}: expected a URL starting with {expected}; {problem}")
    return raw


def _database_url(env: Mapping[str, str], name: str, default: str) -> str:
    """A postgresql:// URL, or a libpq `key=value` connection string; the store reports what
    libpq finds wrong within either, and the password is never shown."""
    raw = env.get(name) or default
    if "://" not in raw and "=" in raw:
        return raw
    problem = _url_problem(raw, _POSTGRES, host_required=False)
    if problem:
        raise SettingError(f"{name} (value not shown: it may hold a password): expected a "
                           f"postgresql://user@host:port/database URL or a libpq key=value "
                           f"string; {problem}")
    return raw


def _url_problem(raw: str, schemes: tuple[str, ...], *, host_required: bool = True) -> str:
    """What is wrong with `raw` as a URL with one of `schemes`, in words that quote nothing
    after the scheme; "" when nothing is."""
    scheme, sep, _ = raw.partition("://")
    if not sep or not scheme:
        return "it has no scheme://"
    if not _SCHEME.fullmatch(scheme):
        return "its scheme is malformed"  # and may be a user name and password: not shown
    if scheme.lower() not in schemes:
        return f"its scheme is {scheme!r}"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "its host or port is malformed"
    if host_required and scheme.lower() != "unix" and not parts.hostname:
        return "it names no host"
    return ""


def debug_from_env(env: Mapping[str, str] | None = None) -> bool:
    """SMOKEBOT_DEBUG: show the traceback of an unexpected error (the CLI's --debug)."""
    return _flag(os.environ if env is None else env, "SMOKEBOT_DEBUG", False)


def traffic_lock_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(REDIS_URL, SMOKEBOT_KEY_PREFIX) when REDIS_URL is set, else None: `smokebot run` then
    takes the bot's traffic-probe lock in that Redis, so that the CLI and the bot's workers run
    one probe at a time per environment together; without it the CLI's probes wait only for
    each other."""
    env = os.environ if env is None else env
    if not (env.get("REDIS_URL") or "").strip():
        return None
    url = _url(env, "REDIS_URL", Settings.redis_url, _REDIS, may_hold_password=True)
    return url, env.get("SMOKEBOT_KEY_PREFIX") or Settings.key_prefix
