"""The `smokebot` command line, one module per family of commands:

    _engine.py    run, validate, list, schema    a suite, from a terminal or CI
    _service.py   serve, worker, migrate         the bot's processes
    _history.py   history, deliveries            what the history store holds
    _audit.py     audit                          who asked for, confirmed or was refused what
    _slack.py     slack-manifest                 the Slack app manifest to create the app with
    _store.py     (migrate, history, ..., audit) one query of the history store, then close it
    _group.py     the `smokebot` group           --debug, --version, and which commands it holds
    _bridge.py    every command's errors         one message on stderr and the exit code
"""

from __future__ import annotations

from bot.cli._group import cli, main

__all__ = ["cli", "main"]
