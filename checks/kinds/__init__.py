"""The registry of check kinds. Each kind lives in its own module and is imported only when a
suite uses it; adding a kind means writing its module and adding one line here."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.kinds.base import CheckKind

__all__ = ["kind_names", "load_kind", "register_kind"]

_KINDS: dict[str, str] = {
    "http": "checks.kinds.http:HttpCheck",
    "ratelimit": "checks.kinds.ratelimit:RateLimitCheck",
    "http.flow": "checks.kinds.http_flow:HttpFlowCheck",
    "postgres.connect": "checks.kinds.postgres:ConnectCheck",
    "postgres.tables": "checks.kinds.postgres:TablesCheck",
    "postgres.columns": "checks.kinds.postgres:ColumnsCheck",
    "postgres.query": "checks.kinds.postgres:QueryCheck",
    "postgres.probe": "checks.kinds.postgres:ProbeCheck",
    "postgres.migrations": "checks.kinds.postgres_migrations:MigrationsCheck",
    "redis": "checks.kinds.redis_server:RedisCheck",
    "k8s.pods": "checks.kinds.k8s_pods:PodsCheck",
    "k8s.rollout": "checks.kinds.k8s_rollout:RolloutCheck",
    "k8s.image": "checks.kinds.k8s_image:ImageCheck",
    "k8s.secret": "checks.kinds.k8s_secret:SecretCheck",
    "k8s.events": "checks.kinds.k8s_events:EventsCheck",
    "stripe.account": "checks.kinds.stripe.account:AccountCheck",
    "stripe.webhook_endpoint": "checks.kinds.stripe.webhook_endpoint:WebhookEndpointCheck",
    "stripe.price": "checks.kinds.stripe.price:PriceCheck",
    "stripe.webhook_delivery": "checks.kinds.stripe.webhook_delivery:WebhookDeliveryCheck",
    "stripe.subscription_flow": "checks.kinds.stripe.subscription_flow:SubscriptionFlowCheck",
    "suite": "checks.kinds.suite:TestSuiteCheck",
    "tls": "checks.kinds.tls:TlsCheck",
    "load": "checks.kinds.load:LoadCheck",
}
_loaded: dict[str, CheckKind] = {}


def kind_names() -> list[str]:
    return sorted(_KINDS)


def register_kind(name: str, target: str | CheckKind) -> None:
    """Adds a kind: a 'module:Class' path, or an instance (tests and plugins)."""
    if isinstance(target, str):
        _KINDS[name] = target
        _loaded.pop(name, None)
    else:
        _KINDS[name] = f"{type(target).__module__}:{type(target).__qualname__}"
        _loaded[name] = target


def load_kind(name: str) -> CheckKind:
    kind = _loaded.get(name)
    if kind is None:
        module_name, _, class_name = _KINDS[name].partition(":")
        kind = getattr(importlib.import_module(module_name), class_name)()
        _loaded[name] = kind
    return kind
