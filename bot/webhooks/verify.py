"""Is a delivery genuine? Every comparison of a presented secret or signature with the expected
one is constant-time (`hmac.compare_digest`), so response timing tells a forger nothing.

- GitHub: `X-Hub-Signature-256: sha256=HEX`, HMAC-SHA256 of the raw body with the webhook secret.
- Generic deploy webhook: `X-Smokebot-Signature: sha256=HEX`, HMAC-SHA256 of `{timestamp}.{body}`
  where `timestamp` is `X-Smokebot-Timestamp` (unix seconds); a timestamp more than five minutes
  from our clock is refused, so a captured request cannot be replayed later.
- Argo CD: its notifications webhook service cannot sign, so it sends the shared secret itself in
  `X-Smokebot-Token` (set in `argocd-notifications-cm` from `argocd-notifications-secret`).

Reasons never include the expected signature or any part of a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from bot.webhooks.notice import Unauthenticated
from checks.secrets import Secret

__all__ = ["ARGOCD_TOKEN_HEADER", "GENERIC_SIGNATURE_HEADER", "GENERIC_TIMESTAMP_HEADER",
           "GITHUB_SIGNATURE_HEADER", "REPLAY_WINDOW_S", "generic_signature",
           "github_signature", "hmac_sha256_hex", "verify_generic", "verify_github",
           "verify_shared_secret"]

GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
GENERIC_SIGNATURE_HEADER = "X-Smokebot-Signature"
GENERIC_TIMESTAMP_HEADER = "X-Smokebot-Timestamp"
ARGOCD_TOKEN_HEADER = "X-Smokebot-Token"
REPLAY_WINDOW_S = 300
_PREFIX = "sha256="


def hmac_sha256_hex(secret: Secret | str, message: bytes) -> str:
    key = secret.reveal() if isinstance(secret, Secret) else secret
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def github_signature(secret: Secret | str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return _PREFIX + hmac_sha256_hex(secret, body)


def generic_signature(secret: Secret | str, timestamp: str | int, body: bytes) -> str:
    """The `X-Smokebot-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    return _PREFIX + hmac_sha256_hex(secret, f"{timestamp}.".encode("ascii") + body)


def _same(presented: str, expected: str) -> bool:
    # Bytes, so a non-ASCII header compares (False) instead of raising TypeError.
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def _check_signature(secret: Secret, message: bytes, presented: str | None, header: str) -> None:
    if not presented:
        raise Unauthenticated(f"missing {header} header; expected 'sha256=' and the HMAC-SHA256 "
                              f"of the request, in hex")
    presented = presented.strip()
    if not presented.startswith(_PREFIX):
        raise Unauthenticated(f"{header} must start with 'sha256='")
    expected = _PREFIX + hmac_sha256_hex(secret, message)
    if not _same(presented.lower(), expected):
        raise Unauthenticated(f"{header} does not match the request; check that the sender "
                              f"uses the same secret and signs the raw body")


def verify_github(secret: Secret, body: bytes, presented: str | None) -> None:
    """Raises Unauthenticated unless `presented` is GitHub's signature of `body`."""
    _check_signature(secret, body, presented, GITHUB_SIGNATURE_HEADER)


def verify_generic(secret: Secret, body: bytes, signature: str | None, timestamp: str | None,
                   *, now: float | None = None, window_s: float = REPLAY_WINDOW_S) -> None:
    """Raises Unauthenticated unless `signature` signs `{timestamp}.{body}` and `timestamp` is
    within `window_s` of `now` (either side: a clock a little ahead is no replay)."""
    if not timestamp:
        raise Unauthenticated(f"missing {GENERIC_TIMESTAMP_HEADER} header; expected the unix "
                              f"time in seconds at which the request was signed")
    timestamp = timestamp.strip()
    # isascii too: str.isdigit() takes "²", which neither int() nor the ASCII signing takes.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Unauthenticated(f"{GENERIC_TIMESTAMP_HEADER} must be unix seconds, such as "
                              f"1700000000")
    # Signature first: only a genuine request learns that its timestamp was the problem.
    _check_signature(secret, f"{timestamp}.".encode("ascii") + body, signature,
                     GENERIC_SIGNATURE_HEADER)
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > window_s:
        raise Unauthenticated(f"stale request: {GENERIC_TIMESTAMP_HEADER} is {skew:.0f} s away "
                              f"from the server's clock; expected within {window_s:.0f} s "
                              f"(sign each request when sending it)")


def verify_shared_secret(secret: Secret, presented: str | None, header: str) -> None:
    """Raises Unauthenticated unless `presented` is the secret itself."""
    if not presented:
        raise Unauthenticated(f"missing {header} header; expected the shared webhook secret")
    if not _same(presented.strip(), secret.reveal()):
        raise Unauthenticated(f"{header} does not match the shared webhook secret")
