"""Block Kit rendering as a whole: no text from a target or a person can mention, link or
leak a secret in any message, and the package's public surface is one sorted list over
modules that each declare theirs."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

from bot.slack import render
from bot.slack.render import (
    KnownKind,
    KnownState,
    render_ack_modal,
    render_confirm_production,
    render_error,
    render_failure_reply,
    render_help,
    render_interrupted,
    render_joined,
    render_list,
    render_not_in_channel,
    render_summary,
)
from checks.redact import Redactor
from checks.results import Status
from tests.bot.slack.render.render_support import (
    CANARY,
    RUN_ID,
    all_text,
    assert_valid,
    check,
    section,
    view,
)

# --- escaping ----------------------------------------------------------------------------------

HOSTILE = "<!channel> <https://evil.example|click> <@U0VICTIM1> & <!subteam^S0ALL0001>"


def test_hostile_text_cannot_mention_or_link_anywhere() -> None:
    hostile = check("tables", HOSTILE, Status.FAIL, summary=HOSTILE, name=HOSTILE,
                    details=HOSTILE, measurements={HOSTILE: HOSTILE})
    messages = [
        render_summary(view("failed", (hostile,), categories=(HOSTILE,), environment=HOSTILE,
                            version=HOSTILE, ref=HOSTILE, deployer=HOSTILE,
                            interrupted_reason=HOSTILE)),
        render_summary(view("running", (hostile,), environment=HOSTILE, version=HOSTILE)),
        render_failure_reply(hostile, known=KnownState(KnownKind.ACKNOWLEDGED,
                                                       acknowledged_by=HOSTILE, reason=HOSTILE)),
        render_error(HOSTILE), render_joined(HOSTILE, None), render_help([HOSTILE]),
        render_list([HOSTILE], {HOSTILE: [HOSTILE]}), render_not_in_channel(HOSTILE),
        render_confirm_production(HOSTILE, [HOSTILE]), render_interrupted(HOSTILE, RUN_ID, HOSTILE),
    ]
    for message in messages:
        assert_valid(message)
        # plain_text (headers, buttons) is never parsed, so only mrkdwn and `text` matter.
        mrkdwn_texts = [message.text] + [
            t["text"] for t in _text_objects(message.blocks) if t["type"] == "mrkdwn"]
        for text in mrkdwn_texts:
            for live in ("<!channel>", "<https://evil", "<@U0VICTIM1>", "<!subteam^S0ALL0001>"):
                assert live not in text


def _text_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") in ("mrkdwn", "plain_text") else []
        return found + [t for v in node.values() for t in _text_objects(v)]
    if isinstance(node, list):
        return [t for v in node for t in _text_objects(v)]
    return []


def test_backticks_in_names_and_evidence_cannot_close_code() -> None:
    reply = render_failure_reply(check("x", "C", Status.FAIL, name="n", details="a```b\n````"),
                                 known=None)
    assert reply.blocks[2] == section("```\na`\u200b`\u200b`b\n`\u200b`\u200b`\u200b`\n```")
    row = render_summary(view("failed", (check("y", "c```d", Status.FAIL),), categories=()))
    assert "c`\u200b`\u200b`d" in row.blocks[2]["text"]["text"]


# --- secrets -----------------------------------------------------------------------------------

def test_redacted_results_render_without_the_secret_and_nothing_is_added_back() -> None:
    redactor = Redactor([CANARY])
    leaky = check("login", "Auth", Status.FAIL, name="Login works",
                  summary=f"expected 200 with key {CANARY}, got 401",
                  details=f"Authorization: Bearer {CANARY}\n" * 300,
                  measurements={"token": CANARY}, evidence={"headers": {"x-key": CANARY}})
    # What the runner does to every result before anyone sees it.
    redacted = leaky.with_changes(summary=redactor.redact(leaky.summary),
                                  details=redactor.redact(leaky.details),
                                  measurements=redactor.redact_obj(leaky.measurements),
                                  evidence=redactor.redact_obj(leaky.evidence))
    messages = [render_summary(view("failed", (redacted,), categories=("Auth",))),
                render_failure_reply(redacted, known=KnownState.new()),
                render_failure_reply(redacted.with_changes(details=""), known=None)]
    dumped = json.dumps([all_text(m) for m in messages] + [render_ack_modal(RUN_ID, [redacted])])
    assert CANARY not in dumped and CANARY[8:] not in dumped
    assert "[redacted " in dumped


# --- the package -----------------------------------------------------------------------------

RENDER_DIR = Path(render.__file__).resolve().parent
MODULES = sorted(RENDER_DIR.glob("*.py"))


def test_public_surface_is_the_documented_list() -> None:
    assert render.__all__ == sorted(render.__all__)
    assert all(hasattr(render, name) for name in render.__all__)


def test_each_module_declares_a_sorted_surface_it_defines() -> None:
    for path in MODULES:
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"bot.slack.render.{path.stem}")
        assert module.__all__ == sorted(module.__all__), path.name
        assert all(hasattr(module, name) for name in module.__all__), path.name


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_rendering_does_no_io_and_knows_no_store_queue_or_slack_client() -> None:
    allowed = {"bot.errors", "bot.slack.render"}
    for path in MODULES:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in ("slack_sdk", "slack_bolt", "aiohttp", "httpx", "redis",
                               "psycopg"), f"{path.name} imports {name}"
            if top == "bot":
                assert any(name == a or name.startswith(f"{a}.") for a in allowed), \
                    f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    for path in MODULES:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
