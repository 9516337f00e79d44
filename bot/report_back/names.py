"""The names that the deploy sources' parsers and the reporters share, spelled once. This module
imports nothing: the webhook parsers (imported by the settings) read it without pulling in the
deliverer."""

from __future__ import annotations

__all__ = ["CALLBACK", "GITHUB_DEPLOYMENT", "STATUS_PREFIX"]

GITHUB_DEPLOYMENT = "github-deployment"  # a deployment status on the deployment (github.py)
CALLBACK = "callback"  # a signed POST to the generic webhook's callback_url (callback.py)

# Every deployment status smokebot posts starts with this. GitHub sends a deployment_status
# event for it like for any other; the GitHub source ignores those, or a `success` reported
# back would start the next run, and so on for ever.
STATUS_PREFIX = "smokebot: "
