"""smokebot's own release, for the User-Agent and client names its probes and reports send."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["release"]


@lru_cache(maxsize=1)
def release() -> str:
    """The installed smokebot's version; "0" in a source tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("smokebot")
    except PackageNotFoundError:
        return "0"
