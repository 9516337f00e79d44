"""`make demo-slack`: the bot's main job, without a Slack workspace. Starts the demo target
with one AI provider degraded, a Slack Web API emulator, and the bot's two processes
(`smokebot serve` and `smokebot worker`) against the machine's PostgreSQL and Redis; sends
`/smoketest staging` signed as Slack sends it; once the run's messages are all delivered,
lets the provider recover and clicks the summary's "Re-run failed" (a signed block_actions
payload carrying the button's own action_id and value); then prints the channel as a person
reads it, with the run pages' links, and stops everything it started.

    python -m demo.slack_flow [--degrade COMPONENT ...] [--keep-degraded] [--keep]
                              [--database-url DSN] [--redis-url URL]

The bot keeps its history in a schema of its own in the database of --database-url
(smokebot_demo_slack_<8 hex>) and its queue under a Redis key prefix of its own
(smokebot-demo-slack-<8 hex>); both are deleted when the demo stops, Ctrl-C included. Exit
status: 0 when the story went as told (the first run failed, the re-run passed, or failed
again with --keep-degraded, and the run pages answered), 1 otherwise, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
import yaml

from bot.errors import SettingError
from bot.settings import Settings
from demo.bot_processes import BotProcess, BotProcessFailed, running_bot_process, wait_until_ready
from demo.bot_storage import BotStorage, ServiceUnreachable
from demo.database import ADMIN_DSN
from demo.rate_limit import API_KEY_VARIABLE, api_key_secret, key_hash
from demo.slack_channel import ChannelView, ephemeral_text
from demo.slack_text import Reader, blocks_text, mrkdwn_text
from demo.target import HEALTH_COMPONENTS, create_app
from tests.support.asgi import free_port, serve_asgi
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_records import Channel, Message
from tests.support.slack_requests import SignedRequest, SlackRequestFactory

__all__ = ["DemoProblem", "FlowOptions", "FlowReport", "SwitchableApp", "main",
           "run_slack_flow"]

HERE = Path(__file__).resolve().parent
SUITE = HERE / "slack_smoketest.yaml"
REDIS_URL = "redis://127.0.0.1:6379/0"
CHANNEL = Channel(id="C0DEPLOYS1", name="deploys-staging")
USER_ID, USER_NAME = "U0HUMAN001", "alice"
SETTLE_TIMEOUT_S = 60.0
RERUN_ACTION = "rerun_failed"  # the summary button's action_id (bot/slack/render/summary.py)
# The Slack and bot variables a shell may hold for a real workspace: never handed to the demo's
# processes, which get the demo's own (SMOKEBOT_DEBUG passes: it shows a crash's traceback).
_INHERITED = re.compile(r"^(SLACK_|SMOKEBOT_(?!DEBUG$))|^(DATABASE_URL|REDIS_URL)$")
_VIEW_RUN = re.compile(r"<(https?://[^|>]+)\|View run>")
_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)


class DemoProblem(Exception):
    """Something the demo needs is missing or did not happen; the message says what."""


@dataclass(frozen=True)
class FlowOptions:
    degrade: frozenset[str] = frozenset({"openai"})
    heal: bool = True  # the degraded components recover before Re-run failed is clicked
    keep: bool = False  # after printing, keep everything running until Ctrl-C
    database_url: str = ADMIN_DSN
    redis_url: str = REDIS_URL
    settle_timeout_s: float = SETTLE_TIMEOUT_S
    signing_secret: str | None = field(default=None, repr=False)  # default: one per run


@dataclass(frozen=True)
class FlowReport:
    """What happened, for the exit status and for tests: where things ran, and the names
    of what was made (all stopped and deleted by the time this is returned)."""

    run_statuses: tuple[str, ...]  # the first run's, then the re-run's
    run_links: tuple[str, ...]  # the View run links of the summaries, in channel order
    page_statuses: tuple[int, ...]  # what GET answered for each link
    urls: tuple[str, ...]  # the target, the Slack emulator and the bot's web process
    pids: tuple[int, ...]  # the bot's processes
    key_prefix: str
    db_schema: str
    expected_rerun: str  # "passed", or "failed" when the target was left degraded

    @property
    def ok(self) -> bool:
        return (self.run_statuses == ("failed", self.expected_rerun) and bool(self.run_links)
                and all(status == 200 for status in self.page_statuses))


class SwitchableApp:
    """The demo target as a redeploy sees it: the same address, serving the degraded app
    until `heal()`, then the healthy one (demo.target's apps do not change once made)."""

    def __init__(self, degraded: Any, healthy: Any) -> None:
        self._app = degraded
        self._healthy = healthy

    def heal(self) -> None:
        self._app = self._healthy

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


# --- starting the bot ---------------------------------------------------------------------------

def _write_suite(directory: Path, target_url: str) -> Path:
    """demo/slack_smoketest.yaml with `base_url` at the target: the bot takes no --var."""
    suite = yaml.safe_load(SUITE.read_text(encoding="utf-8"))
    staging = suite["environments"]["staging"]
    staging["variables"]["base_url"] = target_url
    staging["slack"]["channel"] = CHANNEL.id
    path = directory / "smoketest.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def _bot_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of the bot's processes; its settings are checked here first, so that
    a wrong one is one line of the demo's rather than a process that exits."""
    env = {**{k: v for k, v in os.environ.items() if not _INHERITED.search(k)}, **settings}
    try:
        Settings.from_env(env)
    except SettingError as exc:
        raise DemoProblem(exc.render()) from None
    return env


@contextmanager
def _terminal_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so that everything started is stopped."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- what the person does and sees ------------------------------------------------------------

def _rule(text: str) -> str:
    return f"━━ {text} ".ljust(78, "━")


def _rerun_button(message: Message) -> dict[str, Any]:
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if isinstance(element, dict) and element.get("action_id") == RERUN_ACTION:
                return element
    raise DemoProblem("the summary shows no Re-run failed button: "
                      f"{blocks_text(message.blocks)[:500]}")


def _page(url: str) -> tuple[int, str]:
    """GET a run page: its status and its title."""
    answer = httpx.get(url, timeout=10)
    title = _TITLE.search(answer.text)
    return answer.status_code, " ".join(title.group(1).split()) if title else ""


@dataclass
class _Session:
    """One person in #deploys-staging, with the bot up: what they do, and what they see."""

    emulator: SlackEmulator
    storage: BotStorage
    web_url: str
    processes: list[BotProcess]
    slack: SlackRequestFactory
    view: ChannelView
    reader: Reader
    say: Callable[..., None]
    settle_timeout_s: float

    def send(self, request: SignedRequest, what: str) -> dict[str, Any]:
        answer = request.post(f"{self.web_url}/slack/events")
        if answer.status_code != 200:
            raise DemoProblem(f"the bot answered {what} with {answer.status_code}: "
                              f"{answer.text[:300]}")
        return answer.json() if answer.content else {}

    def settle(self, count: int) -> list[tuple[str, str]]:
        """Waits for `count` runs to finish with their messages delivered, then shows the
        channel's news."""
        runs = self.storage.wait_settled(count, self.settle_timeout_s,
                                         still_running=self._check_alive)
        if runs is None:
            tails = "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in self.processes)
            raise DemoProblem(f"run {count} had not finished, its messages delivered to Slack, "
                              f"within {self.settle_timeout_s:g} s (runs: "
                              f"{self.storage.runs()}):\n{tails}")
        self.say(self.view.look())
        self.say("")
        return runs

    def _check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def smoketest(self, environment: str) -> None:
        self.say(_rule(f"{USER_NAME} types /smoketest {environment} in #{CHANNEL.name}"))
        ack = self.send(self.slack.slash_command(environment, channel_id=CHANNEL.id,
                                                 user_id=USER_ID, user_name=USER_NAME),
                        "the slash command")
        self.say(ephemeral_text(str(ack.get("text", "")), ack.get("blocks") or [], self.reader))
        self.say("")

    def click_rerun_failed(self, note: str) -> None:
        summary = next(iter(self.emulator.messages(CHANNEL.id)), None)
        if summary is None:
            raise DemoProblem("the run finished but posted no summary in the channel")
        button = _rerun_button(summary)
        label = mrkdwn_text(str(button.get("text", {}).get("text", "")), self.reader)
        self.say(_rule(f"{USER_NAME} clicks [ {label} ] on the summary{note}"))
        self.send(self.slack.block_actions(action_id=RERUN_ACTION, value=str(button["value"]),
                                           message_ts=summary.ts, channel_id=CHANNEL.id,
                                           user_id=USER_ID, user_name=USER_NAME),
                  "the click")

    def open_run_pages(self) -> tuple[list[str], list[int]]:
        """Follows each summary's View run link (the channel's, then its threads')."""
        self.say(_rule("the run pages, as the View run links open them"))
        links: list[str] = []
        for parent in self.emulator.messages(CHANNEL.id):
            for message in [parent, *self.emulator.thread(CHANNEL.id, parent.ts)]:
                for block in message.blocks:
                    for element in block.get("elements", []) if block.get("type") == "context" \
                            else []:
                        links += [url.replace("&amp;", "&")
                                  for url in _VIEW_RUN.findall(str(element.get("text", "")))]
        statuses = []
        for url in links:
            status, title = _page(url)
            statuses.append(status)
            self.say(f"  {title or '(no title)'}: {status}\n    {url}")
        return links, statuses

    def wait_for_interrupt(self) -> None:
        """Until Ctrl-C (or SIGTERM): with --keep, the normal end of the demo."""
        self.say(f"\ndemo: the bot keeps running at {self.web_url}: open the links above in a "
                 "browser; Ctrl-C stops everything")
        try:
            while True:
                self._check_alive()
                time.sleep(0.5)
        except KeyboardInterrupt:
            return


# --- the flow ----------------------------------------------------------------------------------

def run_slack_flow(options: FlowOptions, out: TextIO = sys.stdout) -> FlowReport:
    """The whole demo; raises DemoProblem, ServiceUnreachable or BotProcessFailed when
    something it needs is missing or does not happen, after stopping and deleting everything
    it started."""
    say: Callable[..., None] = partial(print, file=out, flush=True)
    unknown = sorted(options.degrade - frozenset(HEALTH_COMPONENTS))
    if unknown:
        raise DemoProblem(f"cannot degrade {', '.join(unknown)}: expected any of "
                          f"{', '.join(HEALTH_COMPONENTS)}")
    storage = BotStorage.for_new_run(options.database_url, options.redis_url)
    storage.check_reachable()
    signing_secret = options.signing_secret or secrets.token_hex(20)
    ping_hash = key_hash((api_key := api_key_secret()).reveal())
    emulator = SlackEmulator(bot_token=f"xoxb-demo-{secrets.token_hex(12)}", channels=[CHANNEL],
                             team_domain="smokebot-demo")
    target = SwitchableApp(create_app(options.degrade, ping_key_hash=ping_hash),
                           create_app(ping_key_hash=ping_hash))
    # Links into the emulated workspace lead nowhere: they read as their label.
    reader = Reader(names={USER_ID: USER_NAME, CHANNEL.id: CHANNEL.name},
                    show_url=lambda url: not (urlsplit(url).hostname or "").endswith("slack.com"))
    degraded = ", ".join(sorted(options.degrade))
    with ExitStack() as started:
        directory = Path(started.enter_context(
            tempfile.TemporaryDirectory(prefix="smokebot-demo-slack-")))
        # Registered before anything uses them, so they run once everything has stopped.
        started.callback(storage.drop_schema)
        started.callback(storage.delete_keys)
        slack_api = started.enter_context(emulator.serve())
        target_url = started.enter_context(serve_asgi(target))
        web_url = f"http://127.0.0.1:{free_port()}"
        env = _bot_env({
            "SLACK_BOT_TOKEN": emulator.bot_token, "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_API_URL": slack_api, "DATABASE_URL": options.database_url,
            "REDIS_URL": options.redis_url, "SMOKEBOT_KEY_PREFIX": storage.key_prefix,
            "SMOKEBOT_DB_SCHEMA": storage.schema, "SMOKEBOT_PUBLIC_URL": web_url,
            "SMOKEBOT_CONFIG": str(_write_suite(directory, target_url)),
            API_KEY_VARIABLE: api_key.reveal(),
        })
        say(f"demo: target serving at {target_url} with {degraded} degraded")
        say(f"demo: Slack Web API emulator at {slack_api}, channel #{CHANNEL.name}")
        web = started.enter_context(running_bot_process(
            "web", ["serve", "--host", "127.0.0.1", "--port", str(urlsplit(web_url).port)],
            env, directory))
        worker = started.enter_context(running_bot_process(
            "worker", ["worker", "--concurrency", "1"], env, directory))
        wait_until_ready(web, web_url)
        say(f"demo: smokebot serve at {web_url} (pid {web.pid}) and smokebot worker "
            f"(pid {worker.pid}), history in schema {storage.schema}, queue under Redis prefix "
            f"{storage.key_prefix}\n")

        session = _Session(emulator, storage, web_url, [web, worker],
                           SlackRequestFactory(signing_secret, emulator=emulator),
                           ChannelView(emulator, CHANNEL.id, USER_ID, reader), reader, say,
                           options.settle_timeout_s)
        session.smoketest("staging")
        session.settle(1)
        if options.heal:
            target.heal()
        session.click_rerun_failed(f" ({degraded} recovered meanwhile)" if options.heal
                                   else f" ({degraded} still degraded)")
        runs = session.settle(2)
        links, statuses = session.open_run_pages()
        if options.keep:
            session.wait_for_interrupt()
        report = FlowReport(
            run_statuses=tuple(status for _, status in runs), run_links=tuple(links),
            page_statuses=tuple(statuses), urls=(target_url, emulator.base_url, web_url),
            pids=(web.pid, worker.pid), key_prefix=storage.key_prefix,
            db_schema=storage.schema, expected_rerun="passed" if options.heal else "failed")
    say(f"\ndemo: stopped the bot, its worker, the target and the Slack emulator; dropped "
        f"schema {storage.schema}, deleted the Redis keys under {storage.key_prefix}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.slack_flow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--degrade", action="append", default=[], choices=HEALTH_COMPONENTS,
                        metavar="COMPONENT", help="the component degraded for the first run "
                        f"({', '.join(HEALTH_COMPONENTS)}; default openai)")
    parser.add_argument("--keep-degraded", action="store_true",
                        help="do not let it recover: the re-run fails too")
    parser.add_argument("--keep", action="store_true",
                        help="keep the bot and the target running until Ctrl-C, to open the "
                             "run pages in a browser")
    parser.add_argument("--database-url", default=os.environ.get("DEMO_ADMIN_DATABASE_URL",
                                                                 ADMIN_DSN),
                        help="where the bot's history schema is made (default: %(default)s)")
    parser.add_argument("--redis-url", default=os.environ.get("DEMO_REDIS_URL", REDIS_URL),
                        help="the Redis of the bot's queue (default: %(default)s)")
    args = parser.parse_args(argv)
    options = FlowOptions(degrade=frozenset(args.degrade or ["openai"]),
                          heal=not args.keep_degraded, keep=args.keep,
                          database_url=args.database_url, redis_url=args.redis_url)
    started = time.monotonic()
    try:
        with _terminal_signals():
            report = run_slack_flow(options)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopped everything it started", file=sys.stderr)
        return 130
    except (DemoProblem, ServiceUnreachable, BotProcessFailed) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    if not report.ok:
        print(f"demo: expected the first run to fail and the re-run to {report.expected_rerun}"
              f"; runs: {', '.join(report.run_statuses)}; run pages: "
              f"{', '.join(map(str, report.page_statuses)) or 'no link'}", file=sys.stderr)
        return 1
    print(f"demo: done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
