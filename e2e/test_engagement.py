"""What was watched: the reference player's buckets, from Chromium to the stored events.

The viewer plays to 40 %, seeks back to 10 %, plays to 60 % and leaves. A played video cannot be
stopped at an exact instant (the test pauses it from the first `timeupdate` at or past the target,
a moment that depends on the machine's load), so the test reads where it did stop and derives the
buckets from those positions: the last bucket of a stretch is the last one at least half played,
give or take one bucket at each edge (float rounding of positions and bucket bounds). What it
checks exactly is the shape: 0 to the stop watched, the seek's gap not skipped twice, the stretch
played twice watched again, nothing else.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from e2e._browsing import Browsing, wait_seen
from e2e._stack import Stack, has, types
from pipeline.curated.compactor import compact
from pipeline.query import open_engine
from pipeline.reporting import reports
from translator.engagement import BUCKETS, decode

pytestmark = pytest.mark.e2e

# In the player frame: play from where the playhead is until it reaches `to` seconds, then pause;
# the position it stopped at. Half speed keeps the overshoot past the target small.
PLAY_TO = """(to) => new Promise((resolve) => {
  const video = document.getElementById("video");
  const check = () => {
    if (video.currentTime < to) return;
    video.pause();
    video.removeEventListener("timeupdate", check);
    resolve(video.currentTime);
  };
  video.addEventListener("timeupdate", check);
  video.playbackRate = 0.5;
  video.play();
})"""
SEEK_TO = """(to) => new Promise((resolve) => {
  const video = document.getElementById("video");
  video.addEventListener("seeked", () => resolve(video.currentTime), {once: true});
  video.currentTime = to;
})"""


def last_watched(stop: float, duration: float) -> int:
    """The last bucket at least half played by a stretch that ended at `stop` seconds."""
    return min(BUCKETS - 1, math.floor(stop / (duration / BUCKETS) - 0.5))


def assert_range(buckets: frozenset[int], first: int, last: int, *, exact_first: bool = False) -> None:
    """`buckets` is one run of consecutive buckets from `first` to `last`, ±1 at each edge."""
    assert buckets, "no bucket"
    low, high = min(buckets), max(buckets)
    assert buckets == frozenset(range(low, high + 1)), f"not one run: {sorted(buckets)}"
    assert low == first if exact_first else abs(low - first) <= 1, (low, first)
    assert abs(high - last) <= 1, (high, last)


def test_play_seek_back_play_on_and_leave_stores_what_was_watched_and_watched_again(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    player = next(frame for frame in page.frames if frame.url.startswith(f"{stack.player}/player"))
    player.wait_for_function("document.getElementById('video').duration > 0")
    duration: float = player.evaluate("document.getElementById('video').duration")

    first_stop: float = player.evaluate(PLAY_TO, 0.4 * duration)
    sought: float = player.evaluate(SEEK_TO, 0.1 * duration)
    second_stop: float = player.evaluate(PLAY_TO, max(0.6 * duration, first_stop))
    page.wait_for_function("seen.filter((e) => e.type == 'video.paused').length == 2")
    page.close()  # the viewer leaves: the SDK reports video.incomplete with the player's last picture

    events = stack.wait_for(org, has("video.incomplete"))
    assert types(events).count("video.paused") == 2
    paused = [e["payload"] for e in events if e["event_type"] == "video.paused"]
    incomplete: dict[str, Any] = next(e for e in events if e["event_type"] == "video.incomplete")["payload"]
    assert incomplete["percent"] == pytest.approx(100 * second_stop / duration, abs=0.1)

    # The first stretch: 0 to the first stop, watched once.
    assert_range(decode(paused[0]["watched"]), 0, last_watched(first_stop, duration), exact_first=True)
    assert decode(paused[0]["watched_again"]) == frozenset()
    # The session's whole picture, on the last pause and on the SDK's video.incomplete alike.
    for payload in (paused[1], incomplete):
        assert_range(decode(payload["watched"]), 0, last_watched(second_stop, duration), exact_first=True)
        assert_range(decode(payload["watched_again"]), round(100 * sought / duration),
                      last_watched(first_stop, duration))
    assert (paused[1]["watched"], paused[1]["watched_again"]) == (incomplete["watched"],
                                                                  incomplete["watched_again"])
    assert first_stop >= 0.4 * duration and second_stop >= 0.6 * duration

    # Compacted, the session is one play with data, and the curve is exactly its buckets.
    compact(stack.store, orgs=[org])
    curve = reports.engagement(open_engine(stack.settings, stack.store), org)
    watched, again = decode(incomplete["watched"]), decode(incomplete["watched_again"])
    assert (curve["plays"], curve["plays_with_data"], curve["plays_without_data"]) == (1, 1, 0)
    assert curve["avg_watched_percent"] == len(watched)
    assert [(b["watched_share"], b["watched_again_share"]) for b in curve["buckets"]] == [
        (float(b in watched), float(b in again)) for b in range(BUCKETS)]
