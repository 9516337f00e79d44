"""Slack's requests as built and signed by the test factory, checked by Slack's own libraries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import Clock, SignatureVerifier

from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SignedRequest, SlackRequestFactory, sign

# Slack's documented example (docs.slack.dev, "Verifying requests from Slack").
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TIMESTAMP = 1531420618
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "signing-secret-canary-5e1f"
CHANNEL = "C0SMOKE001"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def factory(emulator: SlackEmulator) -> SlackRequestFactory:
    return SlackRequestFactory(SECRET, emulator=emulator)


def verify(request: SignedRequest, *, at: float | None = None) -> bool:
    clock = FixedClock(at) if at is not None else Clock()
    return SignatureVerifier(SECRET, clock=clock).is_valid_request(request.body, request.headers)


# ---------------------------------------------------------------- signing


def test_signature_matches_slacks_documented_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_factory_signs_the_test_vector_and_slack_sdk_accepts_it_at_that_time() -> None:
    request = SlackRequestFactory(VECTOR_SECRET).sign(VECTOR_BODY, timestamp=VECTOR_TIMESTAMP)
    assert request.headers["X-Slack-Signature"] == VECTOR_SIGNATURE
    assert request.headers["X-Slack-Request-Timestamp"] == str(VECTOR_TIMESTAMP)
    verifier = SignatureVerifier(VECTOR_SECRET, clock=FixedClock(VECTOR_TIMESTAMP))
    assert verifier.is_valid_request(request.body, request.headers)
    # Six minutes later the very same request is a replay.
    later = SignatureVerifier(VECTOR_SECRET, clock=FixedClock(VECTOR_TIMESTAMP + 360))
    assert not later.is_valid_request(request.body, request.headers)


def test_signed_requests_verify_now(factory: SlackRequestFactory) -> None:
    for request in (factory.slash_command("staging"), factory.url_verification(),
                    factory.app_mention("<@U0SMOKEBOT> rerun")):
        assert verify(request)


def test_each_forged_variant_fails_verification(factory: SlackRequestFactory) -> None:
    genuine = factory.slash_command("staging")
    forged = {
        "bad signature": genuine.with_bad_signature(),
        "stale": genuine.stale(),
        "no signature": genuine.without_signature(),
        "no timestamp": genuine.without_timestamp(),
        "no headers": genuine.without_signature_headers(),
        "tampered body": genuine.with_body(genuine.body + b"&text=production"),
    }
    assert {name: verify(request) for name, request in forged.items()} == dict.fromkeys(
        forged, False)


def test_stale_request_is_genuinely_signed_so_only_its_age_is_wrong(
        factory: SlackRequestFactory) -> None:
    stale = factory.slash_command("staging").stale(age_seconds=400)
    assert verify(stale, at=stale.timestamp)
    assert not verify(stale)


def test_forged_variants_drop_exactly_the_headers_they_name(factory: SlackRequestFactory) -> None:
    genuine = factory.slash_command("x")
    assert "X-Slack-Signature" not in genuine.without_signature().headers
    assert "X-Slack-Request-Timestamp" in genuine.without_signature().headers
    assert "X-Slack-Request-Timestamp" not in genuine.without_timestamp().headers
    bare = genuine.without_signature_headers().headers
    assert not {"X-Slack-Signature", "X-Slack-Request-Timestamp"} & set(bare)


def test_the_signing_secret_does_not_show_in_reprs(factory: SlackRequestFactory) -> None:
    request = factory.slash_command("x")
    assert SECRET not in repr(request) + repr(request.stale()) + repr(factory)


# ---------------------------------------------------------------- payload shapes


def test_slash_command_is_a_form_with_slacks_fields(emulator: SlackEmulator,
                                                    factory: SlackRequestFactory) -> None:
    request = factory.slash_command("staging --tag api", user_id="U0ALICE001", user_name="alice")
    fields = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fields == request.payload
    assert {k: fields[k] for k in ("command", "text", "user_id", "user_name", "channel_id",
                                   "channel_name", "team_id")} == {
        "command": "/smoketest", "text": "staging --tag api", "user_id": "U0ALICE001",
        "user_name": "alice", "channel_id": CHANNEL, "channel_name": "smoke-tests",
        "team_id": "T0SMOKE001"}
    assert fields["response_url"].startswith(f"{emulator.base_url}/response_url/")


def test_slash_command_trigger_opens_one_modal_on_the_emulator(
        emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    trigger = factory.slash_command("x").payload["trigger_id"]
    client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    assert client.views_open(trigger_id=trigger, view=view)["ok"]


def test_block_actions_payload_names_the_clicked_button(emulator: SlackEmulator,
                                                        factory: SlackRequestFactory) -> None:
    client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
    buttons = {"type": "actions", "elements": [
        {"type": "button", "action_id": "rerun_failed", "value": "run-7",
         "text": {"type": "plain_text", "text": "Re-run failed"}},
        {"type": "button", "action_id": "ack", "value": "run-7", "style": "danger",
         "text": {"type": "plain_text", "text": "Acknowledge"}}]}
    ts = client.chat_postMessage(channel=CHANNEL, text="run 7 failed", blocks=[buttons])["ts"]
    request = factory.block_actions(action_id="rerun_failed", message_ts=ts)
    payload = json.loads(parse_qs(request.body.decode())["payload"][0])
    assert payload == request.payload
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": CHANNEL,
                                    "is_ephemeral": False}
    assert payload["message"]["ts"] == ts
    [action] = payload["actions"]
    stored_block_id = emulator.message(CHANNEL, ts).blocks[0]["block_id"]
    assert {k: action[k] for k in ("action_id", "block_id", "type", "value")} == {
        "action_id": "rerun_failed", "block_id": stored_block_id, "type": "button",
        "value": "run-7"}
    assert payload["response_url"].startswith(f"{emulator.base_url}/response_url/")


def test_view_submission_carries_typed_state_values(emulator: SlackEmulator,
                                                    factory: SlackRequestFactory) -> None:
    view = {"id": "V0000000001", "type": "modal", "callback_id": "acknowledge",
            "private_metadata": "run-7", "blocks": [
                {"type": "input", "block_id": "reason", "element": {
                    "type": "plain_text_input", "action_id": "value"}},
                {"type": "input", "block_id": "expiry", "element": {
                    "type": "datepicker", "action_id": "date"}}]}
    request = factory.view_submission(view, values={"reason": {"value": "known flake"},
                                                    "expiry": {"date": "2030-01-31"}})
    submitted = request.payload["view"]
    assert request.payload["type"] == "view_submission"
    assert (submitted["callback_id"], submitted["private_metadata"]) == ("acknowledge", "run-7")
    assert submitted["state"] == {"values": {
        "reason": {"value": {"type": "plain_text_input", "value": "known flake"}},
        "expiry": {"date": {"type": "datepicker", "selected_date": "2030-01-31"}}}}


def test_app_mention_in_a_thread_is_posted_there_first(emulator: SlackEmulator,
                                                       factory: SlackRequestFactory) -> None:
    client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
    parent = client.chat_postMessage(channel=CHANNEL, text="run 7")["ts"]
    request = factory.app_mention("<@U0SMOKEBOT> rerun", thread_ts=parent)
    assert request.headers["Content-Type"] == "application/json"
    envelope = json.loads(request.body)
    assert envelope == request.payload
    assert (envelope["type"], envelope["api_app_id"]) == ("event_callback", "A0SMOKEBOT")
    assert envelope["event_id"].startswith("Ev") and isinstance(envelope["event_time"], int)
    event = envelope["event"]
    assert (event["type"], event["text"], event["channel"], event["thread_ts"]) == (
        "app_mention", "<@U0SMOKEBOT> rerun", CHANNEL, parent)
    [mention] = emulator.thread(CHANNEL, parent)
    assert (mention.ts, mention.user) == (event["ts"], "U0HUMAN001")
    # The bot can now answer in that thread.
    client.chat_postMessage(channel=CHANNEL, text="re-running", thread_ts=event["thread_ts"])


def test_url_verification_carries_the_challenge(factory: SlackRequestFactory) -> None:
    request = factory.url_verification("abc123")
    assert json.loads(request.body) == {"token": "legacy-verification-token",
                                        "challenge": "abc123", "type": "url_verification"}


def test_retried_delivery_keeps_the_body_and_adds_retry_headers(
        factory: SlackRequestFactory) -> None:
    first = factory.app_mention("<@U0SMOKEBOT> rerun")
    retry = first.as_retry(1)
    assert retry.body == first.body and verify(retry)
    assert (retry.headers["X-Slack-Retry-Num"], retry.headers["X-Slack-Retry-Reason"]) == (
        "1", "http_timeout")


def test_without_an_emulator_a_response_url_must_be_given() -> None:
    with pytest.raises(ValueError, match="response_url"):
        SlackRequestFactory(SECRET).slash_command("x")
    given = SlackRequestFactory(SECRET).slash_command("x", response_url="http://127.0.0.1:9/r")
    assert given.payload["response_url"] == "http://127.0.0.1:9/r"


# ---------------------------------------------------------------- a real Bolt app as consumer


def bolt_app(emulator: SlackEmulator, seen: list[dict[str, Any]]) -> App:
    app = App(token=emulator.bot_token, signing_secret=SECRET, token_verification_enabled=False,
              process_before_response=True,
              client=WebClient(token=emulator.bot_token, base_url=emulator.api_url))

    @app.command("/smoketest")
    def smoketest(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen.append(command)
        respond(text=f"Queued {command['text']}", response_type="ephemeral")

    @app.action("ack")
    def acknowledge(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(body)
        client.views_open(trigger_id=body["trigger_id"], view={
            "type": "modal", "callback_id": "ack",
            "title": {"type": "plain_text", "text": "Acknowledge"}, "blocks": []})

    return app


def dispatch(app: App, request: SignedRequest) -> int:
    return app.dispatch(BoltRequest(body=request.body.decode(), headers=request.headers)).status


def test_bolt_accepts_a_signed_slash_command_and_its_reply_lands_in_the_emulator(
        emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    seen: list[dict[str, Any]] = []
    status = dispatch(bolt_app(emulator, seen), factory.slash_command("staging"))
    assert status == 200
    assert [c["text"] for c in seen] == ["staging"]
    assert [e.text for e in emulator.ephemerals(CHANNEL)] == ["Queued staging"]


@pytest.mark.parametrize("forge", ["with_bad_signature", "stale", "without_signature_headers",
                                   "without_timestamp"])
def test_bolt_refuses_forged_slash_commands_with_401(emulator: SlackEmulator,
                                                     factory: SlackRequestFactory,
                                                     forge: str) -> None:
    seen: list[dict[str, Any]] = []
    forged = getattr(factory.slash_command("staging"), forge)()
    assert dispatch(bolt_app(emulator, seen), forged) == 401
    assert seen == [] and emulator.ephemerals() == []


def test_bolt_button_click_opens_a_modal_through_the_emulator(
        emulator: SlackEmulator, factory: SlackRequestFactory) -> None:
    client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
    blocks = [{"type": "actions", "elements": [{
        "type": "button", "action_id": "ack", "value": "run-7",
        "text": {"type": "plain_text", "text": "Acknowledge"}}]}]
    ts = client.chat_postMessage(channel=CHANNEL, text="run 7 failed", blocks=blocks)["ts"]
    seen: list[dict[str, Any]] = []
    assert dispatch(bolt_app(emulator, seen), factory.block_actions(action_id="ack",
                                                                    message_ts=ts)) == 200
    assert [b["actions"][0]["value"] for b in seen] == ["run-7"]
    assert [v.view["callback_id"] for v in emulator.views()] == ["ack"]
