"""Signed page links: what a signature covers, expiry, and refusals that say why without
quoting the signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.errors import RequestRefused
from bot.pages.signing import LINK_KEY_LABEL, LinkSigner, canonical_target
from checks.secrets import Secret
from tests.bot.pages.pages_support import query

SECRET = "unit-signing-secret-0123456789"
NOW = 2_000_000_000.0
RUN = "/runs/3f2a9c4e-0b1d-4c3e-9f00-1a2b3c4d5e6f"


def signer(secret: str = SECRET, *, now: float = NOW, ttl_s: float = 3600) -> LinkSigner:
    return LinkSigner(Secret(secret), ttl_s=ttl_s, clock=lambda: now)


def params(link: str) -> list[tuple[str, str]]:
    return list(query(link).items())


def refusal(link: str, path: str = RUN, *, at: LinkSigner | None = None) -> RequestRefused:
    with pytest.raises(RequestRefused) as caught:
        (at or signer()).verify(path, params(link))
    return caught.value


def test_a_signed_link_verifies_until_it_expires() -> None:
    link = signer().sign(RUN)
    assert link.startswith(f"{RUN}?exp={int(NOW) + 3600}&sig=")
    assert signer(now=NOW + 3599).verify(RUN, params(link)) == int(NOW) + 3600
    expired = refusal(link, at=signer(now=NOW + 3600))
    assert expired.status == 403 and "expired" in expired.reason


def test_no_signature_is_401_and_a_wrong_one_403_without_quoting_it() -> None:
    with pytest.raises(RequestRefused) as caught:
        signer().verify(RUN, [])
    assert caught.value.status == 401
    link = signer().sign(RUN)
    sig = query(link)["sig"]
    tampered = link.replace(sig, ("A" if sig[0] != "A" else "B") + sig[1:])
    refused = refusal(tampered)
    assert refused.status == 403 and "does not match" in refused.reason
    assert sig not in refused.reason and sig[1:] not in refused.reason


@pytest.mark.parametrize("bad", [
    "exp=abc&sig=" + "A" * 43,  # an expiry that is not a number
    "exp=" + "9" * 40 + "&sig=" + "A" * 43,  # absurdly far
    "exp=2000003600&sig=short",
    "exp=2000003600&sig=" + "%" * 43,
    "exp=2000003600",  # half a signature
    "sig=" + "A" * 43,
    "exp=1&exp=2&sig=" + "A" * 43,  # twice
])
def test_malformed_signatures_are_403(bad: str) -> None:
    assert refusal(f"{RUN}?{bad}").status == 403


def test_the_signature_covers_the_path_the_expiry_and_every_other_parameter() -> None:
    at = signer()
    link = at.sign("/runs", [("env", "staging")])
    assert at.verify("/runs", params(link))
    assert refusal(link.replace("env=staging", "env=production"), "/runs").status == 403
    assert refusal(link + "&limit=200", "/runs").status == 403
    exp = query(link)["exp"]
    assert refusal(link.replace(f"exp={exp}", f"exp={int(exp) + 1}"), "/runs").status == 403
    assert refusal(at.sign(RUN), RUN.replace("3f2a", "4f2a")).status == 403
    # Parameter order does not matter: what is signed is sorted.
    two = at.sign("/x", [("b", "2"), ("a", "1")])
    assert at.verify("/x", [("a", "1"), ("b", "2"), *[(k, v) for k, v in params(two)
                                                        if k in ("exp", "sig")]])


def test_another_secret_and_the_signing_secret_itself_do_not_sign_links() -> None:
    link = signer().sign(RUN)
    assert refusal(link, at=signer("another-secret-0123456789")).status == 403
    # A signature made with the Slack signing secret as the key is not one of ours: the key is
    # derived from it with a label.
    exp = int(NOW) + 3600
    raw = hmac.new(SECRET.encode(), f"{exp}\n{RUN}".encode(), hashlib.sha256).digest()
    forged = f"{RUN}?exp={exp}&sig={base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"
    assert refusal(forged).status == 403
    key = hmac.new(SECRET.encode(), LINK_KEY_LABEL, hashlib.sha256).digest()
    ours = hmac.new(key, f"{exp}\n{RUN}".encode(), hashlib.sha256).digest()
    assert query(link)["sig"] == base64.urlsafe_b64encode(ours).rstrip(b"=").decode()


def test_a_link_given_an_expiry_keeps_it_and_the_signer_shows_no_key() -> None:
    at = signer()
    assert query(at.sign(RUN, expires=int(NOW) + 60))["exp"] == str(int(NOW) + 60)
    assert SECRET not in repr(at) and "ttl_s=3600" in repr(at)
    assert canonical_target("/runs", [("sig", "x"), ("env", "a b"), ("exp", "1")]) == \
        "/runs?env=a+b"
