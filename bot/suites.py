"""The suite file as the bot reads it: `load_suite` is the engine's, plus what only the bot
knows (which keys of an environment's `deploy:` mapping name a deploy source); `SuiteSource`
keeps it for the long-running bot: loaded once, reloaded when it changes on disk, and a broken
edit keeps the last good version and says why."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bot.webhooks.sources import mapping_keys
from checks import config
from checks.config import DeployMapping, Suite, field_path, raise_all, unknown_field_message
from checks.errors import ConfigError
from checks.yamlsource import SourceMap, read_yaml_file

__all__ = ["SuiteSource", "load_suite"]

log = logging.getLogger("smokebot.suites")


def load_suite(path: str | Path) -> Suite:
    """`checks.config.load_suite`, and every key of a `deploy:` mapping a registered source's
    or a setting; raises ConfigError (carrying every error, in file order) otherwise.

    The keys are read from the file before the engine validates it: a misspelled setting
    (`coalesce_windw: 1s`) is an unknown key, not a source whose names are not a list."""
    document = read_yaml_file(path)
    errors = _unknown_deploy_keys(document.data, document.source)
    try:
        suite = config.parse_suite(document, base_dir=Path(path).resolve().parent)
    except ConfigError as exc:
        unknown = tuple(error.field or "" for error in errors)
        errors += [error for error in (exc, *getattr(exc, "others", ()))
                   if not _within(error.field, unknown)]
    errors.sort(key=_position)
    raise_all(errors)  # outside `except`: no engine error chained to this one
    return suite


def _unknown_deploy_keys(data: Any, source: SourceMap) -> list[ConfigError]:
    keys = mapping_keys()
    choices = (*keys, *DeployMapping.model_fields)
    environments = data.get("environments") if isinstance(data, dict) else None
    errors = []
    for env_name, env in (environments.items() if isinstance(environments, dict) else ()):
        deploy = env.get("deploy") if isinstance(env, dict) else None
        for key in (deploy if isinstance(deploy, dict) else ()):
            if key not in choices:
                path = ("environments", env_name, "deploy", key)
                errors.append(ConfigError(unknown_field_message(str(key), choices),
                                          source.locate(path, prefer_key=True),
                                          field_path(path)))
    return errors


def _position(error: ConfigError) -> tuple[int, int]:
    where = error.location
    return (where.line or 0, where.column or 0) if where is not None else (0, 0)


def _within(field: str | None, paths: tuple[str, ...]) -> bool:
    return field is not None and any(field == p or field.startswith((f"{p}.", f"{p}["))
                                     for p in paths)


class SuiteSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._suite: Suite | None = None
        self._mtime: float | None = None
        self.last_error: ConfigError | None = None

    def current(self) -> Suite:
        """The suite; raises ConfigError only when no good version was ever loaded."""
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            mtime = None
        if self._suite is None or mtime != self._mtime:
            try:
                self._suite = load_suite(self.path)
                self.last_error = None
            except ConfigError as exc:
                self.last_error = exc
                if self._suite is None:
                    raise
                log.error("keeping the last good suite: %s", exc.render())
            self._mtime = mtime
        return self._suite
