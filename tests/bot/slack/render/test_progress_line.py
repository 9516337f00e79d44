"""The live summary's progress line with long checks' progress under the bar: exact text, the
latest few only, a target's text shown literally, and gone once the run is over."""

from __future__ import annotations

from bot.slack.render import render_summary
from tests.bot.slack.render.render_support import FAILING, all_text, assert_valid, section, view


def test_a_running_probe_says_how_far_it_is_under_the_bar() -> None:
    message = render_summary(view("running", FAILING[:2], total=4,
                                  progress=(("api-load", "812/3000 requests · 98 rps"),)))
    assert message.blocks[-1] == section(
        "`██████████░░░░░░░░░░` 2/4 checks done · 1 failed · running…\n"
        "`api-load`: 812/3000 requests · 98 rps")
    assert_valid(message)


def test_only_the_latest_three_probes_are_shown_and_their_text_stays_literal() -> None:
    progress = tuple((f"probe-{n}", f"step {n}") for n in range(5)) + (
        ("limits", "<!channel> 5/10 <https://x|y>\nsecond line"),)
    line = render_summary(view("running", (), total=6, progress=progress)).blocks[-1]
    text = line["text"]["text"]
    assert text.splitlines()[1:] == [
        "`probe-3`: step 3", "`probe-4`: step 4",
        "`limits`: &lt;!channel&gt; 5/10 &lt;https://x|y&gt; second line"]


def test_a_finished_run_shows_no_progress() -> None:
    message = render_summary(view("passed", progress=(("api-load", "3000/3000 requests"),)))
    assert "3000/3000 requests" not in all_text(message)
