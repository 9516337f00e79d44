"""The registry of deploy sources: every sender of deploy webhooks smokebot accepts, and all the
rest of the bot needs to know about it, in one entry.

Adding a source (GitLab, say) is its module (`gitlab.py` with `verify` and `parse`, like
`github.py`) and one entry in `_BUILT_IN` below. Nothing else changes: the endpoints
(`routes.py`), the secrets read from the environment (`bot.settings`), the keys accepted under
an environment's `deploy:` in the suite file (`bot.suites`), the mapping to an environment
(`bot.deploys.find_environment`) and the delivery records all read this registry. Tests and
plugins add a source with `register_source`.

A source whose sender can be told the run's verdict sets `DeployNotice.report_to` in `parse`
(GitHub: its deployment; the generic webhook: its `callback_url`); how that report is sent is
the reporters' registry's (bot/report_back/reporters.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.webhooks import argocd, generic, github
from bot.webhooks.notice import DeployNotice, Ignored
from checks.config import DeployMapping
from checks.secrets import Secret

__all__ = ["DeploySource", "Parse", "Verify", "deploy_sources", "mapping_keys",
           "register_source", "source_named", "source_names"]

# `headers` are the request's, case-insensitive (starlette's Headers).
Verify = Callable[[Mapping[str, str], bytes, Secret], None]  # raises Unauthenticated
Parse = Callable[[Mapping[str, str], bytes], DeployNotice | Ignored]  # raises MalformedPayload

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # a URL path segment; 0003's CHECK agrees


@dataclass(frozen=True)
class DeploySource:
    name: str  # POST /webhooks/<name>; webhook_deliveries.source; ${deploy.source}
    label: str  # for people: "GitHub webhooks are not enabled on this server"
    mapping_key: str  # its key under environments.<name>.deploy in the suite file
    environment_noun: str  # what the sender calls an environment: "Argo CD application"
    secret_env: str  # the variable holding its secret, read into Settings.webhook_secrets[name]
    verify: Verify
    parse: Parse  # sets the notice's `source` to `name`
    delivery_header: str | None = None  # the sender's delivery id, kept with a rejection too
    recorded_headers: tuple[str, ...] = ()  # lowercase; kept with the delivery, besides the
    #                                         common ones (never a signature or a token)
    # No key under `deploy:`: the environment's own name. Right where the sender names
    # environments as people do (GitHub's `staging`, the generic webhook's); not for Argo CD,
    # whose applications are named per service (`shop-staging`), so a default would only guess.
    own_name_by_default: bool = False

    @property
    def path(self) -> str:
        return f"/webhooks/{self.name}"


_BUILT_IN = (
    DeploySource(name=github.NAME, label="GitHub", mapping_key="github",
                 environment_noun="GitHub environment",
                 secret_env="SMOKEBOT_GITHUB_WEBHOOK_SECRET",
                 verify=github.verify, parse=github.parse,
                 delivery_header=github.DELIVERY_HEADER,
                 recorded_headers=github.RECORDED_HEADERS, own_name_by_default=True),
    DeploySource(name=argocd.NAME, label="Argo CD", mapping_key="argocd",
                 environment_noun="Argo CD application",
                 secret_env="SMOKEBOT_ARGOCD_WEBHOOK_SECRET",
                 verify=argocd.verify, parse=argocd.parse),
    DeploySource(name=generic.NAME, label="deploy", mapping_key="generic",
                 environment_noun="deploy environment",
                 secret_env="SMOKEBOT_DEPLOY_WEBHOOK_SECRET",
                 verify=generic.verify, parse=generic.parse,
                 recorded_headers=generic.RECORDED_HEADERS, own_name_by_default=True),
)


def _checked(source: DeploySource, known: Mapping[str, DeploySource]) -> DeploySource:
    """Raises ValueError (a programming mistake, not a user's) if `source` clashes."""
    if not _NAME.match(source.name):
        raise ValueError(f"deploy source name {source.name!r} must be lowercase letters, "
                         f"digits, '-' or '_' (it is a URL path segment)")
    settings = set(DeployMapping.model_fields)
    if source.mapping_key in settings:
        raise ValueError(f"deploy source {source.name!r}: mapping key {source.mapping_key!r} "
                         f"is a setting of the deploy: mapping ({', '.join(sorted(settings))})")
    for other in known.values():
        for attribute in ("name", "mapping_key", "secret_env"):
            if getattr(other, attribute) == getattr(source, attribute):
                raise ValueError(f"deploy source {source.name!r}: {attribute} "
                                 f"{getattr(source, attribute)!r} is already {other.name!r}'s")
    return source


def _table(sources: tuple[DeploySource, ...]) -> dict[str, DeploySource]:
    table: dict[str, DeploySource] = {}
    for source in sources:
        table[source.name] = _checked(source, table)
    return table


_SOURCES = _table(_BUILT_IN)


def register_source(source: DeploySource) -> None:
    """Adds a source (tests and plugins), before the web app is created: its routes are
    made when the app is."""
    _SOURCES[source.name] = _checked(source, _SOURCES)


def deploy_sources() -> tuple[DeploySource, ...]:
    """Every source, in registration order."""
    return tuple(_SOURCES.values())


def source_names() -> tuple[str, ...]:
    return tuple(_SOURCES)


def mapping_keys() -> tuple[str, ...]:
    """The source keys an environment's `deploy:` mapping may hold."""
    return tuple(source.mapping_key for source in _SOURCES.values())


def source_named(name: str) -> DeploySource:
    """Raises KeyError for a name no source has."""
    try:
        return _SOURCES[name]
    except KeyError:
        raise KeyError(f"no deploy source is named {name!r}; expected one of: "
                       f"{', '.join(_SOURCES)}") from None
