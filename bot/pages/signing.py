"""Signed links to the run pages: `?exp=<unix seconds>&sig=<HMAC-SHA256, base64url>`.

A link is a capability: whoever holds it may read that one page until it expires, and nothing
else. The signature covers the path and every other query parameter (sorted), so a link to
staging's runs cannot be turned into production's, a `limit` cannot be added, and a run's id
cannot be swapped. Expiry is part of what is signed: moving it invalidates the link.

The key is derived from the Slack signing secret with a label (HMAC-SHA256(secret, label)),
so the signing secret itself never signs a link, and a link's signature tells nothing about
the secret Slack uses. Comparison is constant-time (`hmac.compare_digest`).

A page signs the links it shows (to a check's history, to the environment's runs) with its
own link's expiry, never a later one: following links never extends access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlencode

from bot.errors import RequestRefused
from checks.secrets import Secret

__all__ = ["DEFAULT_LINK_DAYS", "LINK_KEY_LABEL", "LinkSigner", "canonical_target"]

LINK_KEY_LABEL = b"smokebot run pages: link signing key v1"
DEFAULT_LINK_DAYS = 30
_RESERVED = ("exp", "sig")
_EXPIRY = re.compile(r"[0-9]{1,12}")  # unix seconds; more digits is not a date
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding


def canonical_target(path: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """What a link's signature covers: the path and its other query parameters, sorted."""
    rest = sorted((k, v) for k, v in params if k not in _RESERVED)
    return f"{path}?{urlencode(rest)}" if rest else path


class LinkSigner:
    """Signs and verifies page links with a key derived from the Slack signing secret."""

    def __init__(self, signing_secret: Secret, *, ttl_s: float = DEFAULT_LINK_DAYS * 86_400,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(signing_secret.reveal().encode(), LINK_KEY_LABEL,
                             hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock

    def __repr__(self) -> str:  # never the key
        return f"LinkSigner(ttl_s={self.ttl_s:g})"

    def default_expiry(self) -> int:
        return int(self._clock() + self.ttl_s)

    def sign(self, path: str, params: Iterable[tuple[str, str]] = (), *,
             expires: int | None = None) -> str:
        """`path?…&exp=…&sig=…`, valid until `expires` (default: now + the link lifetime).
        `path` is the decoded path the server will see; the link carries it percent-encoded."""
        params = [(k, v) for k, v in params if k not in _RESERVED]
        exp = self.default_expiry() if expires is None else int(expires)
        query = urlencode([*params, ("exp", str(exp)),
                           ("sig", self._signature(canonical_target(path, params), exp))])
        return f"{quote(path, safe='/')}?{query}"

    def verify(self, path: str, params: Iterable[tuple[str, str]]) -> int:
        """The link's expiry if `path` with `params` carries a valid, unexpired signature;
        raises RequestRefused otherwise: 401 without one, 403 for a wrong or expired one.
        The reason never quotes the signature."""
        params = list(params)
        found = {k: [v for key, v in params if key == k] for k in _RESERVED}
        if not found["sig"] and not found["exp"]:
            raise RequestRefused("this page needs a signed link: open it from the run's "
                                 "Slack message", status=401)
        if len(found["sig"]) != 1 or len(found["exp"]) != 1:
            raise RequestRefused("the link's signature is malformed", status=403)
        exp, sig = found["exp"][0], found["sig"][0]
        if not _EXPIRY.fullmatch(exp) or not _SIGNATURE.fullmatch(sig):
            raise RequestRefused("the link's signature is malformed", status=403)
        expected = self._signature(canonical_target(path, params), int(exp))
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise RequestRefused("the link's signature does not match: it was altered or "
                                 "signed with another key", status=403)
        if int(exp) <= self._clock():
            raise RequestRefused("this link has expired: open the run again from Slack for "
                                 "a fresh one", status=403)
        return int(exp)

    def _signature(self, target: str, exp: int) -> str:
        digest = hmac.new(self._key, f"{exp}\n{target}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
