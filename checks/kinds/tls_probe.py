"""Looks at a server's TLS: one handshake, the certificate it presented, and what is wrong with it.
Shared by the `tls` kind and the `http` kind's `tls:` block.

    TlsTarget -> probe -> TlsFacts -> judge(facts, TlsExpectations) -> TlsVerdict

`probe` connects once verifying the chain (against the system store, or `ca_file` instead) and
the host name, the way a browser would. When OpenSSL refuses the certificate, it keeps OpenSSL's
reason (expired, self-signed, unknown CA, host name mismatch) and connects a second time without
verifying, so that a certificate that fails can still be shown: its subject, issuer, names and
expiry. OpenSSL stops at the first problem it finds, so expiry and host name are also judged
from the certificate itself, and a certificate that is both expired and for another host says
both.

Could not connect (refused, DNS, no TLS on that port, no handshake in time): CheckError. A
handshake that worked, with a certificate or protocol that is wrong: failures in the verdict.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from checks.errors import CheckError
from checks.kinds.base import KindParams
from checks.results import Outcome

__all__ = ["Certificate", "TlsExpectations", "TlsFacts", "TlsTarget", "TlsVerdict", "TlsVersion",
           "judge_tls", "merge_tls", "parse_certificate", "probe", "render_facts", "tls_outcome"]

CLOSE_TIMEOUT_S = 2.0  # for the server's close_notify; a probe does not wait longer
DAY_S = 86400

TlsVersionName = Literal["1.0", "1.1", "1.2", "1.3"]
_VERSION_ORDER = ("1.0", "1.1", "1.2", "1.3")


def _version_name(value: Any) -> Any:
    """`1.2` (a YAML number), `"1.2"`, `TLSv1.2`, `TLS 1.2` and `tls1.2` all name TLS 1.2."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value:.1f}"
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        text = text.removeprefix("tlsv").removeprefix("tls")
        return text if text in _VERSION_ORDER else value
    return value


TlsVersion = Annotated[
    TlsVersionName, BeforeValidator(_version_name),
    WithJsonSchema({"anyOf": [{"enum": ["1.0", "1.1", "1.2", "1.3", "TLSv1.2", "TLSv1.3"]},
                              {"type": "number", "enum": [1.0, 1.1, 1.2, 1.3]}],
                    "description": "a TLS version: 1.2, 1.3 (or TLSv1.2, TLSv1.3)"}),
]
Days = Annotated[int, Field(ge=0)]


class TlsExpectations(KindParams):
    """What the server's TLS must be, beyond a certificate that verifies: the `http` kind's
    `tls:` block, and the thresholds of the `tls` kind."""

    min_version: TlsVersion | None = None  # the version negotiated must be at least this
    min_days_left: Days | None = None  # fewer days before the certificate expires: failed
    warn_days_left: Days | None = None  # fewer: passed, with a warning

    @model_validator(mode="after")
    def _thresholds(self) -> TlsExpectations:
        low, warn = self.min_days_left, self.warn_days_left
        if low is not None and warn is not None and warn <= low:
            raise ValueError(f"warn_days_left ({warn}) must be more than min_days_left ({low}): "
                             f"the warning comes before the failure")
        return self


@dataclass(frozen=True)
class TlsTarget:
    host: str  # to connect to: a name or an address (IPv6 without brackets)
    port: int
    server_name: str  # sent as SNI, and the name the certificate must carry
    ca_file: Path | None = None  # instead of the system store
    verify_chain: bool = True
    check_hostname: bool = True
    handshake_timeout: float = 10.0

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def trust(self) -> str:
        return f"ca_file {self.ca_file}" if self.ca_file else "the system store"


# ------------------------------------------------------------------------------ the certificate

@dataclass(frozen=True)
class Certificate:
    subject: str  # RFC 4514: "CN=example.com,O=Example"
    issuer: str
    issuer_name: str  # the issuer's CN (else O), for one-line summaries
    dns_names: tuple[str, ...]  # subjectAltName entries
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: str
    sha256: str

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def days_left(self, now: datetime) -> int:
        """Whole days until it expires (9.9 days: 9); once it has, minus the whole days since."""
        return int((self.not_after - now).total_seconds() / DAY_S)

    def names_host(self, host: str) -> bool:
        """Whether a subjectAltName covers `host`, as a TLS client decides it: an address must
        be listed as one, a wildcard stands for one whole left-most label, the subject's CN
        is never looked at."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            return any(ipaddress.ip_address(ip) == address for ip in self.ip_addresses)
        wanted = _ascii_name(host)
        label, _, parent = wanted.partition(".")
        for name in self.dns_names:
            pattern = _ascii_name(name)
            if pattern == wanted:
                return True
            if pattern.startswith("*.") and parent and label and pattern[2:] == parent:
                return True
        return False


def _ascii_name(name: str) -> str:
    text = name.strip().rstrip(".").lower()
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def parse_certificate(der: bytes, where: str) -> Certificate:
    from cryptography import x509  # imported only when a TLS check runs
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_der_x509_certificate(der)
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except ValueError as exc:
        raise CheckError(f"the certificate {where} presented cannot be read: {exc}") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except (x509.ExtensionNotFound, ValueError):  # none, or one that does not parse: no names
        dns, ips = (), ()
    short = ""
    for oid in (x509.NameOID.COMMON_NAME, x509.NameOID.ORGANIZATION_NAME):
        values = cert.issuer.get_attributes_for_oid(oid)
        if values:
            short = str(values[0].value)
            break
    return Certificate(subject=subject or "(empty)", issuer=issuer or "(empty)",
                       issuer_name=short or issuer or "(empty)", dns_names=dns,
                       ip_addresses=ips, not_before=not_before, not_after=not_after,
                       serial=format(cert.serial_number, "x"),
                       sha256=cert.fingerprint(hashes.SHA256()).hex(":"))


# ------------------------------------------------------------------------------ the handshake

@dataclass(frozen=True)
class TlsFacts:
    """What one probe saw."""

    target: TlsTarget
    version: str  # as OpenSSL names it: "TLSv1.3"
    cipher: str
    certificate: Certificate
    handshake_ms: float
    verified: bool  # the chain (and host name, when checked) verified
    verify_code: int | None = None  # OpenSSL's X509_V_ERR_* when it refused the certificate
    verify_message: str = ""
    legacy_only: bool = False  # the server speaks only versions older than TLS 1.2

    @property
    def version_number(self) -> str:
        """"1.3", for comparing with `min_version` ("TLSv1" is 1.0; "SSLv3" stays as is)."""
        number = self.version.removeprefix("TLSv")
        return "1.0" if number == "1" else number


@lru_cache(maxsize=32)
def _verifying_context(ca_file: str | None, check_hostname: bool) -> ssl.SSLContext:
    """Built once per setting: loading a CA store costs tens of milliseconds of CPU."""
    context = ssl.create_default_context(cafile=ca_file)  # the system store unless ca_file
    if ca_file is None and not context.cert_store_stats()["x509_ca"]:
        import certifi  # a system without a CA store of its own (a slim container)

        context.load_verify_locations(certifi.where())
    context.check_hostname = check_hostname
    context.hostname_checks_common_name = False  # as browsers: only subjectAltName counts
    return context


def _new_unverifying_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@lru_cache(maxsize=1)
def _looking_context() -> ssl.SSLContext:
    """Accepts any certificate: only to show one that did not verify, never to trust it."""
    return _new_unverifying_context()


def _context_for(target: TlsTarget) -> ssl.SSLContext:
    if not target.verify_chain:
        return _looking_context()
    ca_file = str(target.ca_file) if target.ca_file else None
    try:
        return _verifying_context(ca_file, target.check_hostname)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckError(f"cannot use ca_file {target.ca_file}: {reason}; expected a PEM file "
                         f"holding the CA certificate", permanent=True) from None


@lru_cache(maxsize=1)
def _legacy_context() -> ssl.SSLContext:
    """Also speaks TLS 1.0 and 1.1 (at OpenSSL security level 0): only to see which version a
    server that refused TLS 1.2 does speak, never to trust it."""
    context = _new_unverifying_context()
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


class _NoCommonVersion(CheckError):
    """The handshake failed for want of a TLS version both sides speak."""


@dataclass(frozen=True)
class _Handshake:
    der: bytes
    version: str
    cipher: str
    elapsed_ms: float


async def _handshake(target: TlsTarget, context: ssl.SSLContext) -> _Handshake:
    """One connection, closed once the handshake is done; SSLCertVerificationError passes
    through, every other failure becomes a CheckError."""
    where = target.address
    started = time.perf_counter()
    try:
        async with asyncio.timeout(target.handshake_timeout):
            _, writer = await asyncio.open_connection(
                target.host, target.port, ssl=context, server_hostname=target.server_name)
    except ssl.SSLCertVerificationError:
        raise
    except TimeoutError:
        raise CheckError(f"no TLS handshake with {where} within {target.handshake_timeout:g}s: "
                         f"is TLS served on that port?") from None
    except ssl.SSLError as exc:
        raise _handshake_error(exc, where) from None
    except ConnectionRefusedError:
        raise CheckError(f"cannot connect to {where}: connection refused",
                         details=f"nothing is listening on {where}: is the service running, "
                                 f"and are the host and port right?") from None
    except socket.gaierror as exc:
        raise CheckError(f"cannot resolve host '{target.host}': DNS lookup failed "
                         f"({exc.strerror or exc}); check the host name") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise CheckError(f"{where} closed the connection during the TLS handshake: is TLS "
                         f"served on that port?") from None
    except OSError as exc:
        raise CheckError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        version = (ssl_object.version() if ssl_object else None) or "unknown"
        cipher = ssl_object.cipher() if ssl_object else None
    finally:
        await _close(writer)
    if not der:
        raise CheckError(f"{where} presented no certificate")
    return _Handshake(der, version, cipher[0] if cipher else "unknown", elapsed_ms)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await writer.wait_closed()
    except (TimeoutError, OSError):  # no close_notify back: nothing more to say to it
        writer.transport.abort()


_NOT_TLS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
            "HTTP_REQUEST", "UNKNOWN_PROTOCOL"}
_NO_COMMON_VERSION = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION",
                      "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW"}


def _handshake_error(exc: ssl.SSLError, where: str) -> CheckError:
    reason = exc.reason or type(exc).__name__
    if isinstance(exc, ssl.SSLEOFError) or reason in ("UNEXPECTED_EOF_WHILE_READING",):
        return CheckError(f"{where} closed the connection during the TLS handshake: is TLS "
                          f"served on that port?")
    if reason in _NOT_TLS:
        return CheckError(f"{where} did not answer with TLS ({reason}): is TLS served on that "
                          f"port, or is it plain HTTP (or another protocol)?")
    if reason in _NO_COMMON_VERSION:
        return _NoCommonVersion(f"TLS handshake with {where} failed: no TLS version in common "
                                f"({reason})", permanent=True)
    return CheckError(f"TLS handshake with {where} failed: {reason}")


async def probe(target: TlsTarget) -> TlsFacts:
    """Connects, verifying as asked; when the certificate does not verify, connects once more
    without verifying, to read it."""
    verify_code: int | None = None
    verify_message = ""
    legacy = False
    try:
        shake = await _handshake(target, _context_for(target))
    except ssl.SSLCertVerificationError as exc:
        verify_code = exc.verify_code
        verify_message = exc.verify_message or exc.reason or "certificate verify failed"
        shake = await _handshake(target, _looking_context())
    except _NoCommonVersion as refused:
        try:  # which old version it speaks is the finding; if none, the first error stands
            shake = await _handshake(target, _legacy_context())
        except CheckError:
            raise refused from None
        legacy = True
        verify_message = f"not verified: the server speaks only {shake.version}"
    certificate = parse_certificate(shake.der, target.address)
    return TlsFacts(target=target, version=shake.version, cipher=shake.cipher,
                    certificate=certificate, handshake_ms=shake.elapsed_ms,
                    verified=target.verify_chain and verify_code is None and not legacy,
                    verify_code=verify_code, verify_message=verify_message, legacy_only=legacy)


# ------------------------------------------------------------------------------ judging

# OpenSSL's X509_V_ERR_* codes that this module words itself.
_UNKNOWN_ISSUER = {2, 20, 21}  # UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), UNABLE_TO_VERIFY_LEAF_...
_SELF_SIGNED_LEAF = 18  # DEPTH_ZERO_SELF_SIGNED_CERT
_SELF_SIGNED_ROOT = 19  # SELF_SIGNED_CERT_IN_CHAIN
_NOT_YET_VALID = 9
_EXPIRED = 10
_NAME_MISMATCH = {62, 64}  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


@dataclass(frozen=True)
class TlsVerdict:
    facts: TlsFacts
    days_left: int
    failures: tuple[str, ...] = ()
    warning: str | None = None
    notes: tuple[str, ...] = ()  # how to fix, for the details

    @property
    def passed(self) -> bool:
        return not self.failures


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _plural_days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def judge_tls(facts: TlsFacts, expected: TlsExpectations,
              now: datetime | None = None) -> TlsVerdict:
    now = now or datetime.now(timezone.utc)
    cert, target = facts.certificate, facts.target
    failures: list[str] = []
    notes: list[str] = []
    code = facts.verify_code
    if facts.legacy_only:
        failures.append(f"the server speaks only {facts.version}, which current clients "
                        f"refuse (TLS 1.2 is the oldest they accept)")
    # Chain problems, in OpenSSL's words made specific.
    if code in _UNKNOWN_ISSUER:
        failures.append(f"certificate issued by an unknown CA ({cert.issuer_name}): not in "
                        f"{target.trust}")
        notes.append("set ca_file to the certificate of the CA that issued it (a private CA), "
                     "or serve the intermediate certificates with the server's own")
    elif code == _SELF_SIGNED_LEAF:
        failures.append(f"self-signed certificate: not issued by a CA in {target.trust}")
        notes.append("give the server a certificate from a CA, or set ca_file to this very "
                     "certificate to trust it")
    elif code == _SELF_SIGNED_ROOT:
        failures.append(f"self-signed CA in the chain ({cert.issuer_name}): its root is not in "
                        f"{target.trust}")
        notes.append("set ca_file to that root CA's certificate")
    elif code is not None and code not in _NAME_MISMATCH | {_EXPIRED, _NOT_YET_VALID}:
        failures.append(f"certificate verify failed: {facts.verify_message}")
    # Validity and names, from the certificate itself: OpenSSL stops at its first problem.
    days_left = cert.days_left(now)
    if cert.not_after <= now:
        ago = int((now - cert.not_after).total_seconds() // DAY_S)
        failures.append(f"certificate expired on {_day(cert.not_after)}"
                        + (f", {_plural_days(ago)} ago" if ago else ""))
    elif cert.not_before > now:
        failures.append(f"certificate not valid before {_day(cert.not_before)}")
    elif code in (_EXPIRED, _NOT_YET_VALID):  # this clock and the server's CA disagree
        failures.append(f"certificate verify failed: {facts.verify_message}")
    # A verified handshake checked the name already; otherwise it is judged here.
    if target.check_hostname and (code in _NAME_MISMATCH or (
            not facts.verified and not cert.names_host(target.server_name))):
        shown = ", ".join(cert.names) or "no subjectAltName"
        failures.append(f"certificate does not name {target.server_name} (it names {shown})")
    # What the configuration asks for.
    if (expected.min_version is not None and not facts.legacy_only
            and _older(facts.version_number, expected.min_version)):
        failures.append(f"negotiated {facts.version}, expected at least TLS "
                        f"{expected.min_version}")
    warning = None
    if cert.not_after > now:
        if expected.min_days_left is not None and days_left < expected.min_days_left:
            failures.append(f"certificate expires in {_plural_days(days_left)} "
                            f"({_day(cert.not_after)}), under min_days_left "
                            f"{expected.min_days_left}")
        elif expected.warn_days_left is not None and days_left < expected.warn_days_left:
            warning = (f"certificate expires in {_plural_days(days_left)} "
                       f"({_day(cert.not_after)}), under warn_days_left "
                       f"{expected.warn_days_left}")
    return TlsVerdict(facts, days_left, tuple(failures), warning, tuple(notes))


def _older(version: str, minimum: str) -> bool:
    try:
        return tuple(map(int, version.split("."))) < tuple(map(int, minimum.split(".")))
    except ValueError:  # "SSLv3"
        return True


# ------------------------------------------------------------------------------ reporting

def _verification_text(facts: TlsFacts) -> str:
    target = facts.target
    if not target.verify_chain:
        return "not verified (verify_chain: false)"
    if facts.legacy_only:
        return facts.verify_message
    if facts.verified:
        named = " and host name" if target.check_hostname else ""
        return f"chain{named} verified against {target.trust}"
    return f"refused by OpenSSL: {facts.verify_message}"


def render_facts(verdict: TlsVerdict) -> str:
    facts = verdict.facts
    cert, target = facts.certificate, facts.target
    name = f" (server name {target.server_name})" if target.server_name != target.host else ""
    left = (f"{_plural_days(verdict.days_left)} left" if verdict.days_left >= 0
            else "expired")
    lines = [f"{target.address}{name}: {facts.version}, {facts.cipher}, handshake "
             f"{round(facts.handshake_ms)} ms",
             f"subject: {cert.subject}",
             f"issuer: {cert.issuer}",
             f"names: {', '.join(cert.names) or 'none (no subjectAltName)'}",
             f"valid: {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} UTC "
             f"({left})",
             f"verification: {_verification_text(facts)}",
             f"sha256: {cert.sha256}"]
    return "\n".join(lines)


def tls_measurements(verdict: TlsVerdict) -> dict[str, Any]:
    return {"days_left": verdict.days_left, "handshake_ms": round(verdict.facts.handshake_ms)}


def tls_evidence(verdict: TlsVerdict) -> dict[str, Any]:
    facts = verdict.facts
    cert = facts.certificate
    return {"address": facts.target.address, "server_name": facts.target.server_name,
            "version": facts.version, "cipher": facts.cipher, "subject": cert.subject,
            "issuer": cert.issuer, "names": list(cert.names),
            "not_before": cert.not_before.isoformat(), "not_after": cert.not_after.isoformat(),
            "days_left": verdict.days_left, "serial": cert.serial, "sha256": cert.sha256,
            "self_signed": cert.self_signed, "verified": facts.verified,
            "verify_error": facts.verify_message or None, "failures": list(verdict.failures)}


def _pass_summary(verdict: TlsVerdict) -> str:
    facts = verdict.facts
    cert = facts.certificate
    return (f"{facts.version}, certificate expires in {_plural_days(verdict.days_left)} "
            f"({_day(cert.not_after)}), issued by {cert.issuer_name}")


def tls_outcome(verdict: TlsVerdict) -> Outcome:
    """The `tls` kind's outcome."""
    details = render_facts(verdict)
    if verdict.failures:
        details = "\n".join([*verdict.failures, *verdict.notes, "", details])
    summary = "; ".join(verdict.failures) if verdict.failures else _pass_summary(verdict)
    return Outcome(passed=verdict.passed, summary=summary, details=details,
                   measurements=tls_measurements(verdict), evidence=tls_evidence(verdict),
                   warning=verdict.warning if verdict.passed else None, warning_state="warn")


def merge_tls(outcome: Outcome, verdict: TlsVerdict) -> Outcome:
    """An `http` outcome with its `tls:` block's verdict: failures prefixed `TLS:`, the
    days-left warning added to any warning of its own, the facts under evidence `tls`."""
    failures = [f"TLS: {failure}" for failure in verdict.failures]
    details = render_facts(verdict)
    if failures:
        details = "\n".join([*failures, *verdict.notes, "", details])
    details = f"{outcome.details}\n\n{details}" if outcome.details else details
    measurements = {**outcome.measurements,
                    **{f"tls_{key}": value for key, value in tls_measurements(verdict).items()}}
    evidence = {**outcome.evidence, "tls": tls_evidence(verdict)}
    if failures:
        # A passed outcome's summary ("200 OK in 41 ms") says nothing about what failed.
        summary = "; ".join(failures if outcome.passed else [outcome.summary, *failures])
        return replace(outcome, passed=False, summary=summary, details=details,
                       measurements=measurements, evidence=evidence, warning=None)
    warning = "; ".join(w for w in (outcome.warning, verdict.warning) if w) or None
    # An expiring certificate outweighs a slow answer: the result is a warning, not slow.
    state = "warn" if verdict.warning else outcome.warning_state
    return replace(outcome, details=details, measurements=measurements, evidence=evidence,
                   warning=warning if outcome.passed else None, warning_state=state)
