"""The demo target over HTTPS, with the certificate the demo makes at start-up: trusted through
its CA file, and valid for as long as the suite's `tls` check expects (or, degraded, not)."""

from __future__ import annotations

import ssl
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from demo.target import create_app
from demo.tls import make_certificate, serving_https


def days_left(certificate_file: Path) -> int:
    leaf = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    return (leaf.not_valid_after_utc - datetime.now(timezone.utc)).days


@pytest.mark.parametrize(("expiring", "days"), [(False, 90), (True, 3)])
def test_certificate_is_valid_for_its_days(tmp_path: Path, expiring: bool, days: int) -> None:
    certificate = make_certificate(tmp_path, expiring=expiring)

    assert days_left(certificate.cert_file) == days
    assert {path.name for path in tmp_path.iterdir()} == {"demo-ca.pem", "target.pem",
                                                          "target.key"}


def test_health_is_served_over_https_to_a_client_trusting_the_demo_ca(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)

    with serving_https(create_app(), certificate) as base_url:
        trusted = httpx.get(f"{base_url}/api/health",
                            verify=ssl.create_default_context(cafile=certificate.ca_file))
        with pytest.raises(httpx.ConnectError) as untrusted:
            httpx.get(f"{base_url}/api/health")  # the system's CAs never signed it

    assert base_url.startswith("https://127.0.0.1:")
    assert trusted.status_code == 200 and trusted.json()["status"] == "healthy"
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
