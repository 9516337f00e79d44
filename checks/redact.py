"""One redactor per run: every secret resolved from the suite is registered here, and every
reporter, log line and exception message passes through `redact` before it leaves the process."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from checks.secrets import Secret, describe_secret

__all__ = ["RedactingFilter", "Redactor"]

# Shorter values would redact ordinary words: `register` ignores them, and `checks.plan`
# refuses such a secret with a ConfigError, so none is used unredacted.
MIN_SECRET_LENGTH = 4


class Redactor:
    def __init__(self, secrets: Iterable[str | Secret] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._generation = 0
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str | Secret) -> None:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if len(value) < MIN_SECRET_LENGTH:
            return
        # The forms a value takes when it lands in a URL or a form body, too.
        forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
        new = forms - self._values
        if new:
            self._values |= new
            self._pattern = None
            self._generation += 1

    @property
    def empty(self) -> bool:
        """No secret registered yet. (Not `__bool__`: `redactor or Redactor()` would then
        silently replace an empty redactor that secrets are registered with later.)"""
        return not self._values

    @property
    def generation(self) -> int:
        """Changes whenever a new secret is registered: what was redacted at one generation
        needs redacting again only when the generation has changed since."""
        return self._generation

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern

    def redact(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: f"[redacted {describe_secret(m.group(0))}]", text)

    def redact_obj(self, data: Any) -> Any:
        """Redacts every string inside nested dicts, lists and tuples (keys too)."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_obj(k): self.redact_obj(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return type(data)(self.redact_obj(v) for v in data)
        if isinstance(data, Secret):
            return str(data)
        return data


class RedactingFilter(logging.Filter):
    """Attach to a handler so that no log record can carry a registered secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor.empty:
            try:
                message = record.getMessage()
            except Exception:  # args that do not fit msg: logging would report it, not raise
                message = f"{record.msg} {record.args!r}"
            record.msg = self.redactor.redact(message)
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            if record.exc_text:  # also when another handler formatted it first
                record.exc_text = self.redactor.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redactor.redact(record.stack_info)
        return True
