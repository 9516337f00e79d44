"""Who may run which environment from where, as the suite file's `slack:` section says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from checks.config import SlackTarget

__all__ = ["Decision", "authorize"]

GroupMembers = Callable[[str], Awaitable[Iterable[str]]]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    needs_confirmation: bool = False


async def authorize(policy: SlackTarget, environment: str, user_id: str, channel_id: str,
                    group_members: GroupMembers | None = None) -> Decision:
    """Channel first (cheap), then users, then user groups (one Slack call per group)."""
    if policy.allowed_channels and channel_id not in policy.allowed_channels:
        allowed = ", ".join(f"<#{c}>" for c in policy.allowed_channels)
        return Decision(False, f"{environment} can only be tested from {allowed}.")
    restricted = bool(policy.allowed_users or policy.allowed_usergroups)
    if restricted and user_id not in policy.allowed_users:
        member = False
        if group_members is not None:
            for group in policy.allowed_usergroups:
                if user_id in set(await group_members(group)):
                    member = True
                    break
        if not member:
            groups = ", ".join(f"<!subteam^{g}>" for g in policy.allowed_usergroups)
            who = f"members of {groups} or the listed users" if groups else "the listed users"
            return Decision(False, f"only {who} may test {environment}.")
    return Decision(True, needs_confirmation=policy.confirm)
