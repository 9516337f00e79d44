"""The Slack emulator, driven by the real slack_sdk clients over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.support.slack_emulator import Channel, SlackEmulator
from tests.support.slack_requests import SlackRequestFactory

CANARY_TOKEN = "xoxb-canary-7f3a9c1e5b2d4680"
CHANNEL = "C0SMOKE001"
TS_FORMAT = re.compile(r"^\d{10}\.\d{6}$")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_712_345_678.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_emulator(**options: object) -> SlackEmulator:
    channels = [
        Channel(id=CHANNEL, name="smoke-tests"),
        Channel(id="C0OUTSIDE1", name="outside", is_member=False),
        Channel(id="G0PRIVATE1", name="secret", is_private=True, is_member=False),
        Channel(id="C0ARCHIVE1", name="old", is_archived=True),
    ]
    return SlackEmulator(bot_token=CANARY_TOKEN, channels=channels, **options)  # type: ignore[arg-type]


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    emulator = make_emulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    return WebClient(token=CANARY_TOKEN, base_url=emulator.api_url)


def error_of(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# ---------------------------------------------------------------- auth


def test_auth_test_describes_the_bot(client: WebClient) -> None:
    response = client.auth_test()
    assert response.data == {
        "ok": True, "url": "https://smokebot-test.slack.com/", "team": "Smokebot Test",
        "user": "smokebot", "team_id": "T0SMOKE001", "user_id": "U0SMOKEBOT",
        "bot_id": "B0SMOKEBOT", "is_enterprise_install": False,
    }


def test_call_without_a_token_is_not_authed(emulator: SlackEmulator) -> None:
    error = error_of(lambda: WebClient(base_url=emulator.api_url).auth_test())
    assert error.response.data == {"ok": False, "error": "not_authed"}


def test_call_with_another_token_is_invalid_auth(emulator: SlackEmulator) -> None:
    client = WebClient(token="xoxb-someone-else", base_url=emulator.api_url)
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="hi"))
    assert error.response["error"] == "invalid_auth"
    assert emulator.messages(CHANNEL) == []


def test_token_is_accepted_as_a_form_field_but_not_inside_json(emulator: SlackEmulator) -> None:
    form = httpx.post(f"{emulator.api_url}auth.test", data={"token": CANARY_TOKEN})
    in_json = httpx.post(f"{emulator.api_url}auth.test", json={"token": CANARY_TOKEN})
    assert form.json()["ok"] is True
    assert in_json.json()["error"] == "not_authed"


def test_the_token_is_never_recorded_nor_echoed(client: WebClient,
                                                emulator: SlackEmulator) -> None:
    client.chat_postMessage(channel=CHANNEL, text="hi")
    httpx.post(f"{emulator.api_url}chat.postMessage",
               data={"token": CANARY_TOKEN, "channel": CHANNEL, "text": "form"})
    recorded = repr(emulator.calls()) + repr(emulator.messages(CHANNEL))
    assert CANARY_TOKEN not in recorded
    assert CANARY_TOKEN not in json.dumps(client.auth_test().data)


# ---------------------------------------------------------------- posting and threads


def test_post_message_answers_in_slacks_shape(client: WebClient) -> None:
    blocks = [section("*hello*")]
    response = client.chat_postMessage(channel=CHANNEL, text="hello", blocks=blocks)
    assert response["channel"] == CHANNEL
    assert TS_FORMAT.match(response["ts"])
    message = response["message"]
    assert message["ts"] == response["ts"]
    assert message["type"] == "message"
    assert message["user"] == "U0SMOKEBOT"
    assert message["bot_id"] == "B0SMOKEBOT"
    assert message["text"] == "hello"
    assert message["bot_profile"]["app_id"] == "A0SMOKEBOT"
    # Slack gives each block without a block_id one of its own.
    assert message["blocks"][0]["text"] == blocks[0]["text"]
    assert message["blocks"][0]["block_id"]


def test_post_message_by_channel_name_answers_the_channel_id(client: WebClient) -> None:
    assert client.chat_postMessage(channel="#smoke-tests", text="hi")["channel"] == CHANNEL


def test_timestamps_are_unique_and_increasing_even_within_one_second() -> None:
    emulator = make_emulator(clock=FakeClock(1_712_345_678.0))
    with emulator.serve():
        client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
        stamps = [client.chat_postMessage(channel=CHANNEL, text=str(i))["ts"] for i in range(3)]
    assert stamps == ["1712345678.000001", "1712345678.000002", "1712345678.000003"]


def test_history_keeps_top_level_messages_and_threads_apart(client: WebClient,
                                                            emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="run started")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="check failed", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    assert reply["message"]["parent_user_id"] == "U0SMOKEBOT"
    assert [m.text for m in emulator.messages(CHANNEL)] == ["run started"]
    assert [m.text for m in emulator.thread(CHANNEL, parent)] == ["check failed"]
    parent_shape = emulator.message(CHANNEL, parent).as_slack()
    assert parent_shape["reply_count"] == 1
    assert parent_shape["latest_reply"] == reply["ts"]


def test_reply_to_an_unknown_thread_is_thread_not_found(client: WebClient,
                                                        emulator: SlackEmulator) -> None:
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="lost",
                                                     thread_ts="1700000000.000001"))
    assert error.response["error"] == "thread_not_found"
    assert emulator.thread(CHANNEL, "1700000000.000001") == []


def test_without_strict_threads_an_unknown_thread_swallows_the_reply_as_slack_does() -> None:
    emulator = make_emulator(strict_threads=False)
    with emulator.serve():
        client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
        response = client.chat_postMessage(channel=CHANNEL, text="lost",
                                           thread_ts="1700000000.000001")
    assert response["ok"] is True
    assert emulator.messages(CHANNEL) == []
    assert [m.text for m in emulator.thread(CHANNEL, "1700000000.000001")] == ["lost"]


def test_thread_ts_in_another_channel_is_not_found(client: WebClient,
                                                   emulator: SlackEmulator) -> None:
    emulator.add_channel("C0OTHER001", "other")
    parent = client.chat_postMessage(channel="C0OTHER001", text="elsewhere")["ts"]
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=parent))
    assert error.response["error"] == "thread_not_found"


def test_reply_to_a_reply_joins_the_parents_thread(client: WebClient,
                                                   emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    first = client.chat_postMessage(channel=CHANNEL, text="first", thread_ts=parent)["ts"]
    second = client.chat_postMessage(channel=CHANNEL, text="second", thread_ts=first)
    assert second["message"]["thread_ts"] == parent
    assert [m.text for m in emulator.thread(CHANNEL, parent)] == ["first", "second"]


def test_broadcast_reply_shows_in_the_channel_too(client: WebClient,
                                                  emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    client.chat_postMessage(channel=CHANNEL, text="loud", thread_ts=parent, reply_broadcast=True)
    assert [(m.text, m.subtype) for m in emulator.messages(CHANNEL)] == [
        ("parent", None), ("loud", "thread_broadcast")]
    assert [m.text for m in emulator.thread(CHANNEL, parent)] == ["loud"]


def test_message_without_text_or_blocks_is_no_text(client: WebClient) -> None:
    error = error_of(lambda: client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    assert error.response["error"] == "no_text"


# ---------------------------------------------------------------- channels


@pytest.mark.parametrize(("channel", "expected"), [
    ("C0MISSING1", "channel_not_found"),
    ("G0PRIVATE1", "channel_not_found"),  # a private channel the bot is not in looks absent
    ("C0OUTSIDE1", "not_in_channel"),
    ("C0ARCHIVE1", "is_archived"),
])
def test_posting_where_the_bot_cannot_is_refused(client: WebClient, channel: str,
                                                 expected: str) -> None:
    error = error_of(lambda: client.chat_postMessage(channel=channel, text="hi"))
    assert error.response.data == {"ok": False, "error": expected}


def test_channel_membership_and_archiving_can_change_during_a_test(
        client: WebClient, emulator: SlackEmulator) -> None:
    emulator.set_bot_membership(CHANNEL, False)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response[
        "error"] == "not_in_channel"
    emulator.set_bot_membership(CHANNEL, True)
    emulator.archive_channel(CHANNEL)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response[
        "error"] == "is_archived"


def test_conversations_info_reports_membership_and_archiving(client: WebClient) -> None:
    info = client.conversations_info(channel="C0OUTSIDE1")["channel"]
    assert (info["id"], info["name"], info["is_member"], info["is_archived"]) == (
        "C0OUTSIDE1", "outside", False, False)
    assert client.conversations_info(channel="C0ARCHIVE1")["channel"]["is_archived"] is True
    error = error_of(lambda: client.conversations_info(channel="C0MISSING1"))
    assert error.response["error"] == "channel_not_found"


# ---------------------------------------------------------------- updates, deletes, links


def test_update_replaces_text_keeps_blocks_and_records_the_edit(client: WebClient,
                                                                emulator: SlackEmulator) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="0/3 done", blocks=[section("table")])["ts"]
    response = client.chat_update(channel=CHANNEL, ts=ts, text="1/3 done")
    assert (response["channel"], response["ts"], response["text"]) == (CHANNEL, ts, "1/3 done")
    assert response["message"]["edited"]["user"] == "U0SMOKEBOT"
    stored = emulator.message(CHANNEL, ts)
    assert stored.text == "1/3 done"
    assert stored.blocks[0]["text"]["text"] == "table"  # Slack keeps blocks an update omits
    assert [edit["text"] for edit in stored.edits] == ["0/3 done"]


def test_update_with_blocks_replaces_the_blocks(client: WebClient,
                                                emulator: SlackEmulator) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("old")])["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="x", blocks=[section("new")])
    assert [b["text"]["text"] for b in emulator.message(CHANNEL, ts).blocks] == ["new"]


def test_update_of_a_missing_message_is_message_not_found(client: WebClient) -> None:
    error = error_of(lambda: client.chat_update(channel=CHANNEL, ts="1700000000.000009", text="x"))
    assert error.response["error"] == "message_not_found"


def test_update_of_someone_elses_message_is_cant_update_message(
        client: WebClient, emulator: SlackEmulator) -> None:
    ts = emulator.add_user_message(CHANNEL, "a person wrote this")
    error = error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="x"))
    assert error.response["error"] == "cant_update_message"


def test_update_in_an_archived_channel_is_is_inactive(client: WebClient,
                                                      emulator: SlackEmulator) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    emulator.archive_channel(CHANNEL)
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="y")).response[
        "error"] == "is_inactive"


def test_delete_removes_the_message(client: WebClient, emulator: SlackEmulator) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    assert client.chat_delete(channel=CHANNEL, ts=ts).data == {
        "ok": True, "channel": CHANNEL, "ts": ts}
    assert emulator.messages(CHANNEL) == []


def test_permalinks_point_at_the_message_and_its_thread(client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="p")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent)["ts"]
    top = client.chat_getPermalink(channel=CHANNEL, message_ts=parent)
    nested = client.chat_getPermalink(channel=CHANNEL, message_ts=reply)
    base = f"https://smokebot-test.slack.com/archives/{CHANNEL}/p"
    assert top.data == {"ok": True, "channel": CHANNEL,
                        "permalink": base + parent.replace(".", "")}
    assert nested["permalink"] == (base + reply.replace(".", "")
                                   + f"?thread_ts={parent}&cid={CHANNEL}")
    error = error_of(lambda: client.chat_getPermalink(channel=CHANNEL,
                                                      message_ts="1700000000.000009"))
    assert error.response["error"] == "message_not_found"


# ---------------------------------------------------------------- ephemeral


def test_ephemeral_message_reaches_only_its_user(client: WebClient,
                                                 emulator: SlackEmulator) -> None:
    response = client.chat_postEphemeral(channel=CHANNEL, user="U0HUMAN001",
                                         text="only you can see this")
    assert set(response.data) == {"ok", "message_ts"}
    [ephemeral] = emulator.ephemerals(CHANNEL, user="U0HUMAN001")
    assert (ephemeral.ts, ephemeral.text, ephemeral.source) == (
        response["message_ts"], "only you can see this", "chat.postEphemeral")
    assert emulator.messages(CHANNEL) == []


def test_ephemeral_to_a_user_outside_the_channel_is_refused(emulator: SlackEmulator) -> None:
    emulator.add_channel("C0MEMBERS1", "members", members=frozenset({"U0HUMAN001"}))
    client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
    error = error_of(lambda: client.chat_postEphemeral(channel="C0MEMBERS1", user="U0STRANGER",
                                                       text="x"))
    assert error.response["error"] == "user_not_in_channel"


# ---------------------------------------------------------------- Slack's limits


def test_fifty_blocks_pass_and_fifty_one_are_invalid_blocks(client: WebClient) -> None:
    client.chat_postMessage(channel=CHANNEL, text="ok", blocks=[{"type": "divider"}] * 50)
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x",
                                                     blocks=[{"type": "divider"}] * 51))
    assert error.response.data == {
        "ok": False, "error": "invalid_blocks",
        "errors": ["no more than 50 items allowed [json-pointer:/blocks]"],
        "response_metadata": {"messages": [
            "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]},
    }


def test_section_text_over_3000_characters_is_invalid_blocks(client: WebClient) -> None:
    client.chat_postMessage(channel=CHANNEL, text="ok", blocks=[section("a" * 3000)])
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x",
                                                     blocks=[section("a" * 3001)]))
    assert error.response["errors"] == [
        "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]


def test_header_text_over_150_characters_is_invalid_blocks(client: WebClient) -> None:
    def header(length: int) -> list[dict[str, object]]:
        return [{"type": "header", "text": {"type": "plain_text", "text": "h" * length}}]

    client.chat_postMessage(channel=CHANNEL, text="ok", blocks=header(150))
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x",
                                                     blocks=header(151)))
    assert error.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]"]


def test_header_text_must_be_plain_text(client: WebClient) -> None:
    blocks = [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}]
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert error.response["errors"] == [
        "must be one of plain_text [json-pointer:/blocks/0/text/type]"]


def test_context_elements_are_text_objects_of_at_most_3000_characters(client: WebClient) -> None:
    def context(length: int) -> list[dict[str, object]]:
        return [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * length}]}]

    client.chat_postMessage(channel=CHANNEL, text="ok", blocks=context(3000))
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x",
                                                     blocks=context(3001)))
    assert error.response["errors"][-1] == (
        "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/text]")


def test_section_fields_allow_ten_items_of_2000_characters(client: WebClient) -> None:
    fields = [{"type": "mrkdwn", "text": "f" * 2000}] * 10
    client.chat_postMessage(channel=CHANNEL, text="ok",
                            blocks=[{"type": "section", "fields": fields}])
    too_long = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}]
    too_many = [{"type": "section", "fields": fields + fields[:1]}]
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_long)
                    ).response["errors"][-1] == (
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]")
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_many)
                    ).response["errors"] == [
        "no more than 10 items allowed [json-pointer:/blocks/0/fields]"]


def test_button_limits_are_enforced(client: WebClient) -> None:
    button = {"type": "button", "action_id": "rerun", "value": "v" * 2001,
              "text": {"type": "plain_text", "text": "b" * 76}}
    error = error_of(lambda: client.chat_postMessage(
        channel=CHANNEL, text="x", blocks=[{"type": "actions", "elements": [button]}]))
    assert error.response["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ]


def test_duplicate_block_ids_are_invalid_blocks(client: WebClient) -> None:
    blocks = [{**section("a"), "block_id": "same"}, {**section("b"), "block_id": "same"}]
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"


def test_text_over_40000_characters_is_truncated_with_slacks_warning(
        client: WebClient, emulator: SlackEmulator) -> None:
    response = client.chat_postMessage(channel=CHANNEL, text="t" * 40_001)
    assert response["warning"] == "message_truncated"
    assert response["response_metadata"] == {
        "warnings": ["message_truncated"],
        "messages": ["[WARN] Your message was truncated but still posted. "
                     "The `text` field accepts up to 40,000 characters."],
    }
    assert len(emulator.message(CHANNEL, response["ts"]).text) == 40_000


def test_text_of_exactly_40000_characters_is_kept_whole(client: WebClient) -> None:
    response = client.chat_postMessage(channel=CHANNEL, text="t" * 40_000)
    assert "warning" not in response.data
    assert len(response["message"]["text"]) == 40_000


def test_limits_apply_to_updates_too(client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    error = error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="x",
                                                blocks=[section("a" * 3001)]))
    assert error.response["error"] == "invalid_blocks"


def test_blocks_that_are_not_json_are_invalid_blocks_format(emulator: SlackEmulator) -> None:
    response = httpx.post(f"{emulator.api_url}chat.postMessage",
                          data={"channel": CHANNEL, "text": "x", "blocks": "[{not json"},
                          headers={"Authorization": f"Bearer {CANARY_TOKEN}"})
    assert response.json() == {"ok": False, "error": "invalid_blocks_format"}


# ---------------------------------------------------------------- encodings and the record


def test_form_and_json_bodies_are_recorded_alike(client: WebClient,
                                                 emulator: SlackEmulator) -> None:
    blocks = [section("same")]
    client.chat_postMessage(channel=CHANNEL, text="json", blocks=blocks)
    httpx.post(f"{emulator.api_url}chat.postMessage",
               data={"channel": CHANNEL, "text": "form", "blocks": json.dumps(blocks)},
               headers={"Authorization": f"Bearer {CANARY_TOKEN}"})
    calls = emulator.calls("chat.postMessage")
    assert [(c.encoding, c.params["text"], c.params["blocks"]) for c in calls] == [
        ("json", "json", blocks), ("form", "form", blocks)]
    assert [(c.status, c.error) for c in calls] == [(200, None), (200, None)]


def test_get_with_query_parameters_works(client: WebClient) -> None:
    # slack_sdk sends conversations.info as a GET with a query string.
    assert client.conversations_info(channel=CHANNEL)["channel"]["id"] == CHANNEL


def test_json_without_charset_gets_slacks_missing_charset_warning(
        emulator: SlackEmulator) -> None:
    response = httpx.post(f"{emulator.api_url}auth.test", content=b"{}",
                          headers={"Authorization": f"Bearer {CANARY_TOKEN}",
                                   "Content-Type": "application/json"})
    body = response.json()
    assert (body["ok"], body["warning"], body["response_metadata"]) == (
        True, "missing_charset", {"warnings": ["missing_charset"]})


def test_multipart_form_bodies_are_read_like_forms(emulator: SlackEmulator) -> None:
    response = httpx.post(f"{emulator.api_url}chat.postMessage",
                          data={"channel": CHANNEL, "text": "multipart"},
                          files={"attachment": ("a.txt", b"x")},
                          headers={"Authorization": f"Bearer {CANARY_TOKEN}"})
    assert response.json()["message"]["text"] == "multipart"
    assert emulator.calls("chat.postMessage")[0].encoding == "multipart"


@pytest.mark.parametrize(("content", "content_type", "expected"), [
    (b"{not json", "application/json; charset=utf-8", "invalid_json"),
    (b"[1, 2]", "application/json; charset=utf-8", "invalid_json"),
    (b"channel=x", "text/csv", "invalid_post_type"),
    (b"channel=x", "", "missing_post_type"),
])
def test_bodies_slack_cannot_read_are_refused_with_slacks_codes(
        emulator: SlackEmulator, content: bytes, content_type: str, expected: str) -> None:
    headers = {"Authorization": f"Bearer {CANARY_TOKEN}"}
    if content_type:
        headers["Content-Type"] = content_type
    with httpx.Client() as http:
        request = http.build_request("POST", f"{emulator.api_url}chat.postMessage",
                                     content=content, headers=headers)
        response = http.send(request)
    assert response.json() == {"ok": False, "error": expected}
    assert emulator.messages(CHANNEL) == []


def test_unknown_method_is_unknown_method(client: WebClient) -> None:
    error = error_of(lambda: client.api_call("chat.teleport"))
    assert error.response.data == {"ok": False, "error": "unknown_method",
                                   "req_method": "chat.teleport"}


def test_calls_record_failures_with_their_error(client: WebClient,
                                                emulator: SlackEmulator) -> None:
    error_of(lambda: client.chat_postMessage(channel="C0MISSING1", text="x"))
    [call] = emulator.calls("chat.postMessage")
    assert (call.params, call.status, call.error) == (
        {"channel": "C0MISSING1", "text": "x"}, 200, "channel_not_found")


def test_reset_forgets_history_calls_and_injections(client: WebClient,
                                                    emulator: SlackEmulator) -> None:
    client.chat_postMessage(channel=CHANNEL, text="x")
    emulator.inject_rate_limit("chat.postMessage", times=3)
    emulator.archive_channel(CHANNEL)
    emulator.reset()
    assert emulator.messages(CHANNEL) == [] and emulator.calls() == []
    client.chat_postMessage(channel=CHANNEL, text="after reset")
    assert [m.text for m in emulator.messages(CHANNEL)] == ["after reset"]


# ---------------------------------------------------------------- rate limits and outages


def test_rate_limit_surfaces_as_slack_api_error_without_a_retry_handler(
        client: WebClient, emulator: SlackEmulator) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    emulator.inject_rate_limit("chat.update", times=1, retry_after=7)
    error = error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="y"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert emulator.message(CHANNEL, ts).text == "x"
    client.chat_update(channel=CHANNEL, ts=ts, text="y")  # only the next call was limited
    assert [c.status for c in emulator.calls("chat.update")] == [429, 200]


def test_rate_limit_is_retried_after_retry_after_by_slack_sdks_handler(
        emulator: SlackEmulator) -> None:
    client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    emulator.inject_rate_limit("chat.update", times=2, retry_after=0)
    assert client.chat_update(channel=CHANNEL, ts=ts, text="y")["text"] == "y"
    assert [c.status for c in emulator.calls("chat.update")] == [429, 429, 200]


async def test_rate_limit_is_retried_by_the_async_client_handler(
        emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token=CANARY_TOKEN, base_url=emulator.api_url,
                            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    emulator.inject_rate_limit("chat.postMessage", times=1, retry_after=0)
    response = await client.chat_postMessage(channel=CHANNEL, text="after the limit")
    assert response["message"]["text"] == "after the limit"
    assert [c.status for c in emulator.calls("chat.postMessage")] == [429, 200]


def test_injected_5xx_fails_then_recovers(client: WebClient, emulator: SlackEmulator) -> None:
    emulator.inject_error("chat.postMessage", status=503, times=1)
    error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
    assert (error.response.status_code, error.response["error"]) == (503, "service_unavailable")
    assert emulator.messages(CHANNEL) == []
    client.chat_postMessage(channel=CHANNEL, text="x")
    assert len(emulator.messages(CHANNEL)) == 1


def test_injected_5xx_is_retried_by_slack_sdks_server_error_handler(
        emulator: SlackEmulator) -> None:
    handler = ServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url, retry_handlers=[handler])
    emulator.inject_error("chat.postMessage", status=500, times=2)
    client.chat_postMessage(channel=CHANNEL, text="third time lucky")
    assert [c.status for c in emulator.calls("chat.postMessage")] == [500, 500, 200]
    assert [m.text for m in emulator.messages(CHANNEL)] == ["third time lucky"]


def test_injected_error_body_can_be_an_html_page(client: WebClient,
                                                 emulator: SlackEmulator) -> None:
    emulator.inject_error("*", status=502, body="<html>Bad Gateway</html>")
    error = error_of(lambda: client.auth_test())
    assert error.response.status_code == 502


def test_outage_fails_every_call_until_it_ends(client: WebClient,
                                               emulator: SlackEmulator) -> None:
    emulator.begin_outage(503)
    for call in (client.auth_test, lambda: client.chat_postMessage(channel=CHANNEL, text="x")):
        assert error_of(call).response.status_code == 503
    emulator.end_outage()
    client.chat_postMessage(channel=CHANNEL, text="x")
    assert len(emulator.messages(CHANNEL)) == 1


# ---------------------------------------------------------------- files


def test_files_upload_v2_shares_the_file_into_the_thread(client: WebClient,
                                                         emulator: SlackEmulator) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="run")["ts"]
    report = "# Smoke report\n\nall good\n"
    response = client.files_upload_v2(channel=CHANNEL, thread_ts=parent, content=report,
                                      filename="report.md", title="Full report",
                                      initial_comment="full report attached")
    [uploaded] = emulator.files()
    assert response["file"]["id"] == uploaded.id
    assert (uploaded.filename, uploaded.title, uploaded.content) == (
        "report.md", "Full report", report.encode())
    assert uploaded.completed and uploaded.length == len(report.encode())
    [shared] = emulator.thread(CHANNEL, parent)
    assert shared.text == "full report attached"
    assert [f["id"] for f in shared.files] == [uploaded.id]
    assert uploaded.shares == [(CHANNEL, shared.ts)]
    assert [c.method for c in emulator.calls()][-3:] == [
        "files.getUploadURLExternal", "upload_url", "files.completeUploadExternal"]


async def test_async_files_upload_v2_works_too(emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
    parent = (await client.chat_postMessage(channel=CHANNEL, text="run"))["ts"]
    await client.files_upload_v2(channel=CHANNEL, thread_ts=parent, content=b"\x00bytes",
                                 filename="evidence.bin")
    [uploaded] = emulator.files()
    assert uploaded.content == b"\x00bytes"
    assert [m.files[0]["name"] for m in emulator.thread(CHANNEL, parent)] == ["evidence.bin"]


def test_upload_url_lives_on_the_emulator(client: WebClient, emulator: SlackEmulator) -> None:
    response = client.files_getUploadURLExternal(filename="a.txt", length=3)
    assert response["upload_url"].startswith(f"{emulator.base_url}/upload/v1/")
    assert response["file_id"].startswith("F")
    posted = httpx.post(response["upload_url"], content=b"abc")
    assert (posted.status_code, posted.text) == (200, "OK - 3")


def test_completing_an_upload_whose_bytes_never_arrived_is_file_not_found(
        client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="a.txt", length=3)["file_id"]
    error = error_of(lambda: client.files_completeUploadExternal(
        files=[{"id": file_id, "title": "a"}], channel_id=CHANNEL))
    assert error.response["error"] == "file_not_found"


def test_upload_into_an_unknown_thread_is_thread_not_found(client: WebClient,
                                                          emulator: SlackEmulator) -> None:
    error = error_of(lambda: client.files_upload_v2(
        channel=CHANNEL, thread_ts="1700000000.000001", content="x", filename="x.md"))
    assert error.response["error"] == "thread_not_found"
    assert emulator.messages(CHANNEL) == []


def test_upload_with_zero_length_is_missing_argument(client: WebClient) -> None:
    error = error_of(lambda: client.files_getUploadURLExternal(filename="a.txt", length=0))
    assert error.response["error"] == "missing_argument"


# ---------------------------------------------------------------- modals


MODAL = {
    "type": "modal", "callback_id": "acknowledge",
    "title": {"type": "plain_text", "text": "Acknowledge"},
    "submit": {"type": "plain_text", "text": "Save"},
    "private_metadata": '{"run": 7}',
    "blocks": [{"type": "input", "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "value"}}],
}


def test_views_open_with_an_issued_trigger_opens_the_modal(client: WebClient,
                                                           emulator: SlackEmulator) -> None:
    trigger = emulator.issue_trigger("U0HUMAN001")
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V")
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal", "acknowledge", '{"run": 7}')
    assert view["state"] == {"values": {}}
    [opened] = emulator.views()
    assert (opened.trigger_id, opened.user_id, opened.view["id"]) == (
        trigger, "U0HUMAN001", view["id"])


def test_a_trigger_opens_one_view_only(client: WebClient, emulator: SlackEmulator) -> None:
    trigger = emulator.issue_trigger()
    client.views_open(trigger_id=trigger, view=MODAL)
    error = error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL))
    assert error.response["error"] == "exchanged_trigger_id"


@pytest.mark.parametrize("trigger", ["12345.98765.abcd2358fdea", "not-a-trigger"])
def test_a_trigger_slack_never_issued_is_invalid_trigger_id(client: WebClient,
                                                            trigger: str) -> None:
    error = error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL))
    assert error.response["error"] == "invalid_trigger_id"


def test_a_trigger_older_than_three_seconds_is_expired() -> None:
    clock = FakeClock()
    emulator = make_emulator(clock=clock)
    with emulator.serve():
        client = WebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
        fresh, stale = emulator.issue_trigger(), emulator.issue_trigger()
        clock.now += 3.0
        client.views_open(trigger_id=fresh, view=MODAL)
        clock.now += 0.5
        error = error_of(lambda: client.views_open(trigger_id=stale, view=MODAL))
    assert error.response["error"] == "expired_trigger_id"


def test_an_invalid_view_is_invalid_arguments_and_keeps_the_trigger(
        client: WebClient, emulator: SlackEmulator) -> None:
    trigger = emulator.issue_trigger()
    bad = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    error = error_of(lambda: client.views_open(trigger_id=trigger, view=bad))
    assert error.response.data == {
        "ok": False, "error": "invalid_arguments",
        "response_metadata": {"messages": [
            "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]},
    }
    client.views_open(trigger_id=trigger, view=MODAL)


async def test_async_client_posts_threads_updates_and_opens_views(
        emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token=CANARY_TOKEN, base_url=emulator.api_url)
    parent = (await client.chat_postMessage(channel=CHANNEL, text="p"))["ts"]
    await client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent)
    await client.chat_update(channel=CHANNEL, ts=parent, text="p2")
    await client.chat_postEphemeral(channel=CHANNEL, user="U0HUMAN001", text="e")
    await client.views_open(trigger_id=emulator.issue_trigger(), view=MODAL)
    assert [m.text for m in emulator.messages(CHANNEL)] == ["p2"]
    assert [m.text for m in emulator.thread(CHANNEL, parent)] == ["r"]
    assert len(emulator.ephemerals()) == 1 and len(emulator.views()) == 1


# ---------------------------------------------------------------- response_url


@pytest.fixture
def factory(emulator: SlackEmulator) -> SlackRequestFactory:
    return SlackRequestFactory("signing-secret-for-tests", emulator=emulator)


def test_response_url_ephemeral_reply_is_recorded(emulator: SlackEmulator,
                                                  factory: SlackRequestFactory) -> None:
    command = factory.slash_command("staging", user_id="U0HUMAN001")
    webhook = WebhookClient(command.payload["response_url"])
    response = webhook.send(text="Queued smoke tests for staging", response_type="ephemeral")
    assert (response.status_code, json.loads(response.body)) == (200, {"ok": True})
    [ephemeral] = emulator.ephemerals(CHANNEL, user="U0HUMAN001")
    assert (ephemeral.text, ephemeral.source) == ("Queued smoke tests for staging",
                                                  "response_url")
    [call] = emulator.calls("response_url")
    assert call.params == {"text": "Queued smoke tests for staging",
                           "response_type": "ephemeral"}


def test_response_url_in_channel_reply_is_posted_to_the_channel(
        emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    command = factory.slash_command("staging")
    WebhookClient(command.payload["response_url"]).send(text="public", response_type="in_channel")
    assert [m.text for m in emulator.messages(CHANNEL)] == ["public"]


def test_response_url_replace_original_edits_the_clicked_message(
        client: WebClient, emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="confirm production?")["ts"]
    click = factory.block_actions(action_id="confirm", message_ts=ts)
    WebhookClient(click.payload["response_url"]).send(text="confirmed", replace_original=True)
    stored = emulator.message(CHANNEL, ts)
    assert (stored.text, [e["text"] for e in stored.edits]) == (
        "confirmed", ["confirm production?"])


def test_response_url_delete_original_deletes_the_clicked_message(
        client: WebClient, emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="confirm?")["ts"]
    click = factory.block_actions(action_id="cancel", message_ts=ts)
    WebhookClient(click.payload["response_url"]).send_dict({"delete_original": True})
    assert emulator.messages(CHANNEL) == []


def test_response_url_takes_five_posts_then_refuses(emulator: SlackEmulator,
                                                    factory: SlackRequestFactory) -> None:
    webhook = WebhookClient(factory.slash_command("x").payload["response_url"])
    statuses = [webhook.send(text=f"#{i}").status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert emulator.calls("response_url")[-1].error == "used_url"


def test_response_url_never_issued_is_refused(emulator: SlackEmulator) -> None:
    response = WebhookClient(f"{emulator.base_url}/response_url/nope").send(text="x")
    assert response.status_code == 404


def test_response_url_without_text_or_blocks_is_no_text(emulator: SlackEmulator,
                                                        factory: SlackRequestFactory) -> None:
    webhook = WebhookClient(factory.slash_command("x").payload["response_url"])
    response = webhook.send_dict({"response_type": "ephemeral"})
    assert (response.status_code, json.loads(response.body)["error"]) == (400, "no_text")


def test_response_url_enforces_block_limits(emulator: SlackEmulator,
                                            factory: SlackRequestFactory) -> None:
    webhook = WebhookClient(factory.slash_command("x").payload["response_url"])
    response = webhook.send(text="x", blocks=[{"type": "divider"}] * 51)
    assert (response.status_code, json.loads(response.body)["error"]) == (400, "invalid_blocks")


def test_response_url_failures_are_injectable(emulator: SlackEmulator,
                                              factory: SlackRequestFactory) -> None:
    webhook = WebhookClient(factory.slash_command("x").payload["response_url"])
    emulator.inject_error("response_url", status=500)
    assert webhook.send(text="x").status_code == 500
    assert webhook.send(text="x").status_code == 200
