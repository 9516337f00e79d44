"""TLS servers on loopback for the `tls` kind's tests, and the certificates they present: issued
by a trustme CA (valid, expiring soon, expired, for another name) or self-signed.

A server does the handshake and waits for the client to close; it serves each connection in a
thread of its own, and refuses nothing itself (a client that rejects the certificate simply
hangs up)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["issued", "self_signed", "serve_tls", "silent_port"]

POLL_S = 0.05  # how often the accept loop looks whether it should stop


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def issued(ca: trustme.CA, folder: Path, *names: str, days: float = 90,
           not_before_days: float = -1, name: str = "server.pem") -> Path:
    """A key and certificate chain (PEM) issued by `ca` for `names`, valid from
    `not_before_days` to `days` from now."""
    leaf = ca.issue_cert(*names, not_before=_now() + datetime.timedelta(days=not_before_days),
                         not_after=_now() + datetime.timedelta(days=days))
    path = folder / name
    leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


def self_signed(folder: Path, *names: str, common_name: str = "self-signed.test",
                name: str = "self-signed.pem") -> Path:
    """A key and certificate (PEM) signed by its own key, for `names` (IP addresses or DNS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    sans: list[x509.GeneralName] = []
    for item in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(item)))
        except ValueError:
            sans.append(x509.DNSName(item))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    path = folder / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))
    return path


def _serve_one(context: ssl.SSLContext, conn: socket.socket) -> None:
    with conn:
        conn.settimeout(5)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the client closes
        except (ssl.SSLError, OSError):
            pass  # the client refused the certificate, or just hung up


@contextmanager
def serve_tls(chain_pem: Path, *,
              maximum_version: ssl.TLSVersion | None = None) -> Iterator[int]:
    """Yields the port of a TLS server on 127.0.0.1 presenting `chain_pem` (key and chain),
    speaking TLS up to `maximum_version` (TLS 1.1: that one only, as an old server would)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(chain_pem))
    if maximum_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1 are
            context.maximum_version = maximum_version
        if maximum_version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 speaks them only at security level 0.
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(POLL_S)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setblocking(True)
            threading.Thread(target=_serve_one, args=(context, conn), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
