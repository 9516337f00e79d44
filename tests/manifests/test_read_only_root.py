"""What the manifests' `readOnlyRootFilesystem: true` leaves the image: nothing writable but
/tmp. `smokebot run` (the Argo CD hook's command) is run in a mount namespace where the
repository, the virtualenv and the interpreter are read-only and /tmp is a fresh tmpfs, with
the image's environment (PYTHONDONTWRITEBYTECODE=1); it must run the suite and write its JUnit
report under /tmp. Needs root (unshare -m); skipped where the namespace cannot be made."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "manifests" / "base" / "smoketest.yaml"


def read_only(path: Path) -> str:
    quoted = shlex.quote(str(path))
    return f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted}"


def test_smokebot_run_needs_nothing_writable_but_tmp() -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    smokebot = Path(sys.executable).parent / "smokebot"
    prefix = Path(sys.base_prefix).resolve()
    tree = shlex.quote(str(ROOT))
    script = " && ".join([
        # The fresh /tmp would hide a checkout that lives under /tmp (CI's may): the tree is
        # kept reachable through a bind mount made first, and put back over the tmpfs.
        "mount -t tmpfs tmpfs /mnt", "mkdir /mnt/tree", f"mount --bind {tree} /mnt/tree",
        "mount -t tmpfs tmpfs /tmp", f"mkdir -p {tree}", f"mount --bind /mnt/tree {tree}",
        read_only(ROOT), read_only(prefix),
        # Proof that the tree is read-only in here, then the hook's command line.
        f"! touch {shlex.quote(str(ROOT / '.rofs-probe'))} 2>/dev/null",
        f"{{ {shlex.quote(str(smokebot))} run staging --only health "
        f"--var base_url=http://127.0.0.1:9 --junit /tmp/reports/junit.xml; "
        f"echo exit=$?; }}",
        "head -c 200 /tmp/reports/junit.xml",
    ])
    probe = subprocess.run([unshare, "-m", "--propagation", "private", "true"],
                           capture_output=True, check=False, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")

    done = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1",
             "PYTHONUNBUFFERED": "1", "SMOKEBOT_CONFIG": str(SUITE)})

    assert done.returncode == 0, done.stderr
    assert "exit=1" in done.stdout  # the health check could not connect: a failed run
    assert '<?xml version="1.0"' in done.stdout and "<testsuite" in done.stdout
    assert "Read-only file system" not in done.stdout + done.stderr
    assert not (ROOT / ".rofs-probe").exists()
