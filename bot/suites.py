"""The suite file as the bot reads it: `load_suite` is the engine's, plus what only the bot
knows (which keys of an environment's `deploy:` mapping name a deploy source); `SuiteSource`
keeps it for the long-running bot: loaded once, reloaded when it changes on disk without
blocking the event loop, and a refused edit keeps the last good version and says why."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.webhooks.sources import mapping_keys
from checks import config
from checks.config import DeployMapping, Suite, field_path, raise_all, unknown_field_message
from checks.errors import ConfigError, Location
from checks.yamlsource import SourceMap, read_yaml_file

__all__ = ["ANSWER_WAIT_S", "RELOAD_TIMEOUT_S", "SuiteRefusal", "SuiteSource", "load_suite"]

log = logging.getLogger("smokebot.suites")

# The loader's limits keep a load of any file within seconds (a 1 MiB suite: about 5 s); this
# is the bound for what they do not foresee.
RELOAD_TIMEOUT_S = 30.0
# How long a Slack or webhook request waits for a changed file before it is answered from the
# version in use (Slack gives up at 3 s); the load goes on in the background.
ANSWER_WAIT_S = 1.0


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


@dataclass(frozen=True)
class SuiteRefusal:
    """A changed suite file that was not taken, and since when the version in use is."""

    error: ConfigError
    in_use_since: datetime  # UTC


_Signature = tuple[int, int, int]  # mtime (ns), size, inode: a replaced file differs in one


class SuiteSource:
    """The suite for the long-running bot. The first load happens where it is asked for and
    raises ConfigError when the file is wrong; after that, a change on disk is loaded in a
    worker thread, within RELOAD_TIMEOUT_S, and replaces the version in use only when valid.
    At most one load runs at a time."""

    def __init__(self, path: str | Path, *, reload_timeout: float = RELOAD_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.reload_timeout = reload_timeout
        self.last_error: ConfigError | None = None
        self._suite: Suite | None = None
        self._since: datetime | None = None
        self._signature: _Signature | None = None  # of the version in use, or the last refused
        self._refusal: SuiteRefusal | None = None
        self._reloading: asyncio.Task[None] | None = None
        self._loading: concurrent.futures.Future[Suite] | None = None  # the thread's work

    @property
    def refusal(self) -> SuiteRefusal | None:
        """The change on disk refused since the version in use was loaded, if any."""
        return self._refusal

    def current(self) -> Suite:
        """The suite in use; raises ConfigError only when no good version was ever loaded.
        Never waits for a changed file on a running event loop: the change is loaded in the
        background, and taken by the calls that follow (`refresh` waits for it)."""
        signature = self._signature_now()
        if self._suite is not None and signature == self._signature:
            return self._suite
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop to block (a script, a test): load it here
            self._settle(signature, self._load())
            return self._in_use()
        if self._suite is None:  # as before: the first load is where it is asked for
            self._settle(signature, self._load())
        else:
            self._reload_in_background()
        return self._in_use()

    async def refresh(self, *, wait: float | None = None) -> Suite:
        """The suite, once a change on disk is loaded or refused: waits for the load at most
        `wait` seconds (None: until it ends or times out) and then answers from the version in
        use. The first load is always waited for; raises ConfigError when it fails."""
        signature = self._signature_now()
        if self._suite is not None and signature == self._signature:
            return self._suite
        reloading = self._reload_in_background()
        if self._suite is None or wait is None:
            await asyncio.shield(reloading)
        else:
            await asyncio.wait({reloading}, timeout=wait)
        return self._in_use()

    def _reload_in_background(self) -> asyncio.Task[None]:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._reload())
        return self._reloading

    async def _reload(self) -> None:
        if self._loading is not None and not self._loading.done():
            return  # a load that timed out is still running: no second one beside it
        signature = self._signature_now()  # before reading: a later write is seen as a change
        self._loading = _load_in_thread(self.path)
        try:
            outcome: Suite | ConfigError = await asyncio.wait_for(
                asyncio.wrap_future(self._loading), self.reload_timeout)
        except ConfigError as exc:
            outcome = exc
        except TimeoutError:
            outcome = ConfigError(f"loading it took longer than {self.reload_timeout:g} s; "
                                  "expected a smaller suite file", Location(str(self.path)))
        except Exception as exc:  # noqa: BLE001 - a bug in loading must not stop the bot
            log.exception("loading the suite file failed")
            outcome = ConfigError(f"unexpected {type(exc).__name__} while loading it: {exc}",
                                  Location(str(self.path)))
        self._settle(signature, outcome)

    def _load(self) -> Suite | ConfigError:
        try:
            return load_suite(self.path)
        except ConfigError as exc:
            return exc

    def _settle(self, signature: _Signature | None, outcome: Suite | ConfigError) -> None:
        if isinstance(outcome, Suite):
            if self._refusal is not None:
                log.info("the suite file is valid again; using it")
            self._suite, self._signature, self._since = outcome, signature, _now()
            self.last_error = self._refusal = None
            return
        self.last_error = outcome
        if self._suite is None or self._since is None:  # (both or neither)
            return  # nothing to keep; the next call tries again and raises meanwhile
        self._signature = signature  # refused once: not loaded again until it changes
        self._refusal = SuiteRefusal(outcome, self._since)
        log.error("the suite file changed but was refused (%s); still using the version "
                  "loaded at %s", outcome.render(), f"{self._since:%H:%M} UTC")

    def _in_use(self) -> Suite:
        if self._suite is None:
            assert self.last_error is not None
            raise self.last_error.with_traceback(None)
        return self._suite

    def _signature_now(self) -> _Signature | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _load_in_thread(path: Path) -> concurrent.futures.Future[Suite]:
    """`load_suite(path)` in a daemon thread of its own: the event loop goes on meanwhile, and
    a load that overruns its timeout cannot hold up the process's exit (a pool's threads
    would)."""
    future: concurrent.futures.Future[Suite] = concurrent.futures.Future()
    future.set_running_or_notify_cancel()  # so that a timeout cannot cancel it: it is running

    def work() -> None:
        try:
            future.set_result(load_suite(path))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting loop, which decides
            future.set_exception(exc)

    threading.Thread(target=work, name="smokebot-suite-load", daemon=True).start()
    return future
