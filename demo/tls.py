"""The demo target over HTTPS too, for the suite's `tls` check: a CA and a server certificate for
127.0.0.1 made at start-up with trustme (a few milliseconds), valid for 90 days like a Let's
Encrypt one; the CA's PEM is what the suite's `ca_file` trusts. Degrading
"expiring-certificate" issues one with 3 days left instead, under the suite's min_days_left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import trustme

from tests.support.asgi import serve_asgi

__all__ = ["EXPIRING_CERTIFICATE", "DemoCertificate", "make_certificate", "serving_https"]

EXPIRING_CERTIFICATE = "expiring-certificate"  # the component `--degrade` breaks
VALID_DAYS = 90
EXPIRING_DAYS = 3
HOST = "127.0.0.1"


@dataclass(frozen=True)
class DemoCertificate:
    ca_file: Path  # the CA's certificate: what a client trusts
    cert_file: Path  # the server's certificate chain
    key_file: Path  # and its private key


def make_certificate(directory: Path, *, expiring: bool = False) -> DemoCertificate:
    """A CA and a certificate for HOST signed by it, as PEM files in `directory`."""
    now = datetime.now(timezone.utc)
    days = EXPIRING_DAYS if expiring else VALID_DAYS
    ca = trustme.CA(organization_name="smokebot demo")
    leaf = ca.issue_cert(HOST, "localhost", organization_name="smokebot demo",
                         not_before=now - timedelta(days=1),
                         not_after=now + timedelta(days=days, hours=1))
    certificate = DemoCertificate(directory / "demo-ca.pem", directory / "target.pem",
                                  directory / "target.key")
    ca.cert_pem.write_to_path(str(certificate.ca_file))
    leaf.private_key_pem.write_to_path(str(certificate.key_file))
    for number, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(str(certificate.cert_file), append=number > 0)
    return certificate


@contextmanager
def serving_https(app: Any, certificate: DemoCertificate) -> Iterator[str]:
    """Yields the base URL (`https://127.0.0.1:PORT`) while the app is served over TLS."""
    with serve_asgi(app, ssl_certfile=str(certificate.cert_file),
                    ssl_keyfile=str(certificate.key_file)) as base_url:
        yield base_url.replace("http://", "https://", 1)
