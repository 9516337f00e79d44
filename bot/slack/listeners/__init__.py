"""Slack listeners, one module per kind of request. Each parses, calls one function of
ours, and acks: slow work goes through the queue."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services

__all__ = ["register_all"]


def register_all(app: AsyncApp, services: Services) -> None:
    from bot.slack.listeners import actions, commands, events, views

    for module in (commands, actions, views, events):
        module.register(app, services)
