"""What a deploy webhook told us, whatever sent it, and why a delivery was refused.

Each source's `parse` (`github.py`, `argocd.py`, `generic.py`, listed in `sources.py`) turns a
delivery into one `DeployNotice`, or `Ignored` when it is genuine but not a deploy (a ping);
everything downstream (mapping, runs, the delivery record) reads only that.

    WebhookRejected (bot.errors)  a delivery we refuse; `status` is the HTTP answer, `reason`
    │                             says why (recorded, and returned to the sender)
    ├── Unauthenticated           401: missing or wrong signature or secret, stale timestamp
    └── MalformedPayload          400: not JSON, or a field missing, of the wrong type, or text
                                  the store cannot hold (control characters, over 2048)

Before any of this, the guard (`bot/guard.py`, called by `routes.py`) refuses with a plain
RequestRefused a malformed header or a body cut short (400), a body over 1 MiB (413) and a
content type other than JSON (415).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import WebhookRejected
from bot.records import DeployFacts, ReportTarget

__all__ = ["MAX_FIELD_CHARS", "DeployNotice", "Ignored", "MalformedPayload", "Unauthenticated",
           "WebhookRejected", "describe_json", "json_body", "optional_text", "quoted",
           "required_text"]

MAX_FIELD_CHARS = 2048  # a URL's usual ceiling; ids, names and versions are far shorter
# C0 controls, DEL and lone surrogates: never in a name, id, version or URL, and PostgreSQL
# cannot store NUL or a lone surrogate.
_NOT_TEXT = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class Unauthenticated(WebhookRejected):
    status = 401


class MalformedPayload(WebhookRejected):
    status = 400


@dataclass(frozen=True)
class DeployNotice:
    """One deploy as a source reported it."""

    source: str  # the source's registry name (`sources.py`): "github", "argocd", "deploy"
    delivery_id: str  # the source's id of this delivery; a redelivery carries the same
    environment: str  # the source's name for the environment (GitHub environment, Argo CD app)
    state: str  # as the source says it: "success", "failure", "Synced/Healthy (Succeeded)"
    succeeded: bool  # the deploy finished well: only then does it start a run
    description: str  # "GitHub deployment 42 to production", for the run's trigger line
    version: str | None = None
    commit: str | None = None
    ref: str | None = None
    deployer: str | None = None
    url: str | None = None  # the environment's URL
    link: str | None = None  # the deploy's own page
    # Where the run's verdict can be reported (a GitHub deployment, a callback URL); the
    # report is owed only if its reporter is set up (bot/report_back/: owed_report).
    report_to: ReportTarget | None = None

    @property
    def idempotency_key(self) -> str:
        """The run's key: the same delivery never creates a second run."""
        return f"webhook:{self.source}:{self.delivery_id}"

    def facts(self) -> DeployFacts:
        return DeployFacts(source=self.source, version=self.version, commit=self.commit,
                           ref=self.ref, deployer=self.deployer, url=self.url, link=self.link)

    def summary(self) -> dict[str, Any]:
        """What the delivery record keeps: the facts, never the raw payload."""
        found = {"source_environment": self.environment, "state": self.state,
                 "description": self.description, **self.facts().as_variables()}
        found.pop("source", None)
        return found


@dataclass(frozen=True)
class Ignored:
    """An authenticated delivery that is not a deploy (a ping, another event): recorded with
    its reason and answered with `status`, and nothing else happens."""

    delivery_id: str
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)
    status: int = 202


def json_body(headers: Mapping[str, str], body: bytes) -> Any:
    """The body as JSON; MalformedPayload saying what to send instead. `headers` are the
    request's; the guard has already refused a content type other than JSON."""
    if not body.strip():
        raise MalformedPayload("body is empty; expected a JSON object")
    try:
        # JSON between systems is UTF-8 (RFC 8259); json.loads alone would guess UTF-16 too.
        return json.loads(body.decode("utf-8"), parse_constant=_not_a_number,
                          parse_float=_finite)
    except UnicodeDecodeError:
        raise MalformedPayload("body is not UTF-8 text; expected a JSON object") from None
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}") from None
    except RecursionError:
        raise MalformedPayload("body is nested too deeply; expected a JSON object") from None
    except ValueError:  # an integer of more than 4300 digits
        raise MalformedPayload("body holds a number too long to read; expected a JSON "
                               "object") from None


def _not_a_number(constant: str) -> Any:
    raise MalformedPayload(f"body is not valid JSON: {constant} is not a JSON number")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise MalformedPayload("body is not valid JSON: a number is out of range")
    return value


# --- reading JSON fields, with the reason when one is wrong --------------------------------------

def describe_json(value: Any) -> str:
    """A JSON value's type as the sender wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def quoted(name: str, limit: int = 60) -> str:
    """A sender's text (an unknown field's name) for a reason: quoted, printable ASCII, at
    most `limit` characters, so the reason can be stored, logged and sent back."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in name[:limit])
    return repr(cleaned + ("..." if len(name) > limit else ""))


def _field(data: Any, path: str) -> Any:
    current = data
    walked: list[str] = []
    for part in path.split("."):
        if current is None:  # a null parent: the field is absent
            return None
        if not isinstance(current, dict):
            where = ".".join(walked) or "the body"
            raise MalformedPayload(f"expected '{where}' to be an object, got "
                                   f"{describe_json(current)}")
        walked.append(part)
        current = current.get(part)
    return current


def _text(path: str, value: Any, *, number_ok: bool) -> str:
    if number_ok and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MalformedPayload(f"field '{path}' must be a string, got {describe_json(value)}")
    if len(value) > MAX_FIELD_CHARS:
        raise MalformedPayload(f"field '{path}' is {len(value)} characters long; expected at "
                               f"most {MAX_FIELD_CHARS}")
    if _NOT_TEXT.search(value):
        raise MalformedPayload(f"field '{path}' holds a control character or a lone "
                               f"surrogate; expected plain text")
    return value.strip()


def required_text(data: Any, path: str, *, number_ok: bool = False) -> str:
    """The non-empty string at `path` (dotted); MalformedPayload naming the field otherwise.
    `number_ok` for ids, which some senders write as numbers (GitHub's deployment id)."""
    value = _field(data, path)
    if value is None:
        raise MalformedPayload(f"missing field '{path}'")
    text = _text(path, value, number_ok=number_ok)
    if not text:
        raise MalformedPayload(f"field '{path}' is empty")
    return text


def optional_text(data: Any, path: str, *, number_ok: bool = False) -> str | None:
    """The string at `path`, or None when absent, null or empty; MalformedPayload naming the
    field when it is of another type (a number only with `number_ok`)."""
    value = _field(data, path)
    if value is None or value == "":
        return None
    return _text(path, value, number_ok=number_ok) or None
