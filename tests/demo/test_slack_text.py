"""demo/slack_text.py: Slack messages in plain text, as the Slack demo prints the channel."""

from __future__ import annotations

from demo.slack_text import Reader, blocks_text, message_text, mrkdwn_text

READER = Reader(names={"U0HUMAN001": "alice", "C0DEPLOYS1": "deploys-staging"},
                show_url=lambda url: "slack.com" not in url)


def test_mrkdwn_markers_are_dropped_and_code_keeps_its_text() -> None:
    text = ("*Failed checks* (details in the thread)\n"
            "• :x: *Health endpoint* `health`: _services.ai_providers.openai_ is ~down~")
    assert mrkdwn_text(text) == ("Failed checks (details in the thread)\n"
                                 "• ❌ Health endpoint `health`: services.ai_providers.openai is "
                                 "down")


def test_markers_inside_code_and_words_are_left_alone() -> None:
    assert mrkdwn_text("`*not bold*` snake_case_name 2*3*4") == \
        "`*not bold*` snake_case_name 2*3*4"


def test_links_mentions_dates_and_entities_resolve() -> None:
    text = ("/smoketest staging by <@U0HUMAN001> in <#C0DEPLOYS1> for <!subteam^S0ONCALL> · "
            "Started <!date^1796136974^{date_short_pretty} {time}|2026-12-01 14:56 UTC> · "
            "<http://127.0.0.1:1/runs/r?exp=1&amp;sig=x|View run> · "
            "<https://acme.slack.com/archives/C1/p1|earlier thread> · a &lt;b&gt; &amp; c")
    assert mrkdwn_text(text, READER) == (
        "/smoketest staging by @alice in #deploys-staging for @S0ONCALL · "
        "Started 2026-12-01 14:56 UTC · View run (http://127.0.0.1:1/runs/r?exp=1&sig=x) · "
        "earlier thread · a <b> & c")


def test_a_marker_around_a_link_pairs_up_without_reaching_into_the_url() -> None:
    assert mrkdwn_text("*<http://x/a_b_c*d|label>*") == "label (http://x/a_b_c*d)"


def test_code_blocks_are_indented_and_quotes_barred() -> None:
    text = "Table:\n```\nCategory  Status\n\nHealth &amp; Infra  FAIL\n```\n>quoted line"
    assert mrkdwn_text(text) == ("Table:\n"
                                 "    Category  Status\n"
                                 "\n"
                                 "    Health & Infra  FAIL\n"
                                 "│ quoted line")


def test_an_escaped_angle_at_a_line_start_quotes_nothing_nor_does_one_in_code() -> None:
    assert mrkdwn_text("&gt; 5 requests\n```\n> prompt\n```") == "> 5 requests\n    > prompt"


def test_blocks_of_each_kind() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": ":x: Smoke test: staging failed",
                                    "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Verdict*"},
         "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"},
                       "action_id": "open"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Category*\nHealth"},
                                       {"type": "mrkdwn", "text": "*Kind*\nhttp"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Run `42b3db47`"},
                                         {"type": "plain_text", "text": "Took 99ms"}]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Re-run failed"},
             "action_id": "rerun_failed", "value": "r1"},
            {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick"},
             "action_id": "pick"}]},
        {"type": "image", "image_url": "http://x/i.png", "alt_text": "chart"},
        {"type": "video"},
    ]
    assert blocks_text(blocks) == "\n".join([
        "❌ Smoke test: staging failed",
        "Verdict",
        "[ Open ]",
        "Category: Health · Kind: http",
        "─" * 40,
        "Run `42b3db47` · Took 99ms",
        "[ Re-run failed ]  [ Pick ▾ ]",
        "[image: chart]",
        "[video block]",
    ])


def test_message_shows_its_blocks_not_its_notification_text_and_names_its_files() -> None:
    message = {"ts": "1796136974.000001", "text": "Smoke test of staging failed",
               "bot_profile": {"name": "smokebot"},
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Body*"}}],
               "files": [{"name": "smoke-staging.md", "title": "Smoke test report: staging",
                          "size": 3164}]}
    author, *body = message_text(message).splitlines()
    assert author.startswith("smokebot  ") and len(author) == len("smokebot  14:56")
    assert body == ["  Body", "  📎 smoke-staging.md (Smoke test report: staging, 3.2 kB)"]


def test_message_without_blocks_shows_its_text_by_its_author() -> None:
    message = {"ts": "x", "user": "U0HUMAN001", "text": "<@U0SMOKEBOT> rerun"}
    assert message_text(message, READER) == "alice\n  @U0SMOKEBOT rerun"
