"""The metrics, as data: name, definition, formula, unit, and the nearest equivalents in Mux Data
and the Segment video spec. Reports compute their values from here and docs/metrics.md renders
this table, so a definition is written once.

Counts come from the rollups (`pipeline/query/sql.py`: SESSION_MEASURES and the per-item tables);
a rate is `numerator / denominator`, a fraction in [0, 1], and None when the denominator is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from translator.generated_block import replace_block

_DIGITS = 6  # rates are fractions: 6 decimals are exact enough and read the same on every engine


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    formula: str
    unit: str  # sessions, viewers, events, fraction, percent, currency, days
    numerator: str  # a count column
    denominator: str | None = None
    scope: str = "summary"  # or the item it is reported per ("CTA", "chapter", "error code")
    mux: str = ""
    segment: str = ""

    def value(self, counts: Mapping[str, int | float | None]) -> int | float | None:
        top = counts.get(self.numerator) or 0
        if self.denominator is None:
            return top
        bottom = counts.get(self.denominator) or 0
        return round(top / bottom, _DIGITS) if bottom else None


_NO_MUX_CTA = "None: Mux Data measures playback quality and engagement, not page elements."
_SEGMENT_CUSTOM = ("Not in the video spec: a custom `track` event of the site's own tracking plan "
                   "(e.g. `CTA Clicked`).")

SUMMARY: tuple[Metric, ...] = (
    Metric("views", "Sessions (iframe loads) with at least one tracked event; bots excluded.",
           "count of sessions", "sessions", "views",
           mux="A *view* starts with the intent to play (play request or autoplay) and ends when "
               "the viewer leaves or changes video. A Percus view starts earlier, when the player "
               "loads, so it also counts pages where nobody asked to play.",
           segment="No player-loaded event; nearest is counting `session_id`s of any video event. "
                   "`Video Playback Started` is closer to Percus `plays`."),
    Metric("unique_viewers", "Distinct viewer hashes among the views of the range (a viewer seen on "
           "several days, projects or sessions counts once).",
           "count(distinct viewer_hash)", "viewers", "unique_viewers",
           mux="*Unique Viewers*: distinct `viewer_user_id`, or Mux's anonymous per-browser id when "
               "none is set. The Percus hash follows the recipient across devices instead.",
           segment="Distinct `userId` / `anonymousId` over the video events."),
    Metric("plays", "Views in which playback started: a `video.played`, `video.paused`, "
           "`video.progressed` or `video.completed` event, or `video.incomplete` past 0 %.",
           "count of sessions with playback", "sessions", "plays",
           mux="No separate count; a view that reached its first frame (neither an exit before start "
               "nor a startup failure).",
           segment="Sessions with `Video Playback Started`."),
    Metric("play_rate", "Share of views in which playback started.", "plays / views", "fraction",
           "plays", "views",
           mux="None (a Mux view already implies the intent to play).",
           segment="Sessions with `Video Playback Started` over all sessions; needs a custom "
                   "player-loaded event."),
    Metric("completions", "Plays that reached the natural end (`video.completed`).",
           "count of sessions with video.completed", "sessions", "completions",
           mux="None as a metric; derivable from a view's furthest playhead position and duration.",
           segment="Sessions with `Video Content Completed` (or `Video Playback Completed`)."),
    Metric("completion_rate", "Share of plays that reached the natural end.", "completions / plays",
           "fraction", "completions", "plays",
           mux="None as a metric (see completions).",
           segment="`Video Content Completed` sessions / `Video Playback Started` sessions."),
    Metric("reach_25", "Share of plays that reached 25 % of the video: the furthest percent of any "
           "`video.progressed`/`video.incomplete` event is at least 25, or the video completed. "
           "A later milestone implies the earlier ones, so short videos whose milestones fire late "
           "or together still count.", "sessions reaching 25 % / plays", "fraction", "reached_25",
           "plays",
           mux="None; the IAB/VAST quartile events (`firstQuartile`) are the ad-industry analogue.",
           segment="Derived from `Video Content Playing` heartbeats: `position / total_length`."),
    Metric("reach_50", "As reach_25, for 50 %.", "sessions reaching 50 % / plays", "fraction",
           "reached_50", "plays", mux="None; VAST `midpoint`.", segment="As reach_25."),
    Metric("reach_75", "As reach_25, for 75 %.", "sessions reaching 75 % / plays", "fraction",
           "reached_75", "plays", mux="None; VAST `thirdQuartile`.", segment="As reach_25."),
    Metric("reach_100", "Share of plays that reached the end; equal to completion_rate.",
           "completions / plays", "fraction", "completions", "plays", mux="None; VAST `complete`.",
           segment="As completion_rate."),
    Metric("avg_max_percent", "Average, over plays, of the furthest percent reached (a completed "
           "video counts 100; a play with no milestone yet counts 0). Measured at the milestones "
           "the player reports, so a lower bound.", "sum(max percent) / plays", "percent",
           "sum_max_percent", "plays",
           mux="Nearest: a view's furthest playhead position relative to the duration, averaged.",
           segment="Nearest: max `position / total_length` of `Video Content Playing` per session."),
    Metric("cta_clicks", "`cta.clicked` events in the views.", "count of cta.clicked", "events",
           "cta_clicks", mux=_NO_MUX_CTA, segment=_SEGMENT_CUSTOM),
    Metric("cta_sessions", "Views with at least one CTA click.", "count of sessions with cta.clicked",
           "sessions", "cta_sessions", mux=_NO_MUX_CTA, segment=_SEGMENT_CUSTOM),
    Metric("cta_ctr", "Click-through: share of views with at least one CTA click (per CTA in the "
           "CTA report: views that clicked that CTA).", "cta_sessions / views", "fraction",
           "cta_sessions", "views", mux=_NO_MUX_CTA, segment=_SEGMENT_CUSTOM),
    Metric("interactions", "`interaction.engaged` events (forms, hotspots, surveys) in the views.",
           "count of interaction.engaged", "events", "interactions", mux=_NO_MUX_CTA,
           segment=_SEGMENT_CUSTOM),
    Metric("interaction_rate", "Share of views with at least one interaction.",
           "interaction_sessions / views", "fraction", "interaction_sessions", "views",
           mux=_NO_MUX_CTA, segment=_SEGMENT_CUSTOM),
    Metric("errors", "`video.errored` events, with or without consent (errors without consent have "
           "no viewer identifiers and count here only), dated by their own time.",
           "count of video.errored", "events", "errors",
           mux="Errors are recorded per view with code and message; Mux reports views with errors "
               "rather than error events.",
           segment="No error event; `Video Playback Interrupted` covers unintended stops."),
    Metric("playback_failures", "Views with an error before any playback started (no play yet, "
           "or the first error precedes the first play event).", "count of sessions",
           "sessions", "playback_failures",
           mux="Closest to *Video Startup Failures*: views with a fatal error before the first frame.",
           segment="`Video Playback Interrupted` before `Video Playback Started`."),
    Metric("playback_failure_rate", "Share of views that failed before playback started.",
           "playback_failures / views", "fraction", "playback_failures", "views",
           mux="*Video Startup Failure Percentage* (failures / views). Mux's *Playback Failure "
               "Percentage* instead counts views that ended in a fatal error at any point.",
           segment="None."),
    Metric("exits_before_start", "Views that ended with no playback and no error (the viewer left, "
           "or never pressed play where autoplay was blocked).", "count of sessions", "sessions",
           "exits_before_start",
           mux="*Exits Before Video Start*: views abandoned after the intent to play and before the "
               "first frame, without an error. Percus also counts viewers who never asked to play.",
           segment="Sessions with no `Video Playback Started`."),
    Metric("exit_before_start_rate", "Share of views that exited before start.",
           "exits_before_start / views", "fraction", "exits_before_start", "views",
           mux="*Exits Before Video Start* percentage (same denominator: views).", segment="None."),
    Metric("autoplay_failures", "Views in which the browser blocked autoplay (`autoplay.failed`).",
           "count of sessions", "sessions", "autoplay_failures",
           mux="None as a metric; an autoplay attempt is a view attribute.",
           segment="None; `Video Playback Started` carries `autoplay: true|false`."),
    Metric("autoplay_failure_rate", "Share of views in which autoplay was blocked.",
           "autoplay_failures / views", "fraction", "autoplay_failures", "views",
           mux="None.", segment="None."),
)

PER_ITEM: tuple[Metric, ...] = (
    Metric("cta_ctr", "Views in which this CTA was clicked, over all views of the filter.",
           "sessions clicking the CTA / views", "fraction", "sessions", "views", scope="CTA",
           mux=_NO_MUX_CTA, segment=_SEGMENT_CUSTOM),
    Metric("chapter_reach", "Plays that entered this chapter (`chapter.entered`), over plays.",
           "sessions entering the chapter / plays", "fraction", "sessions", "plays", scope="chapter",
           mux="None.", segment="Nearest: sessions with `Video Content Started` for a content pod."),
    Metric("errors", "`video.errored` events with this error code.", "count of video.errored by code",
           "events", "errors", scope="error code",
           mux="Error breakdown by code and message, counted in views.", segment="None."),
)

# The engagement report (docs/player-protocol.md, "Watched buckets"): over the plays whose player sent
# watched buckets, and per bucket of 1 % of the duration.
_VIMEO = ("Vimeo's *average percent watched* (2024): skips excluded, repeats counted once. Wistia's "
          "engagement graph and Vidyard's attention span draw the same curve.")
ENGAGEMENT: tuple[Metric, ...] = (
    Metric("plays_with_data", "Plays whose player sent watched buckets (`watched` on `video.paused`, "
           "`video.incomplete` or `video.completed`).", "count of sessions with playback and watched "
           "buckets", "sessions", "plays_with_data", scope="engagement", mux="None.", segment="None."),
    Metric("plays_without_data", "Plays whose player sent no watched buckets (an older player or SDK): "
           "counted in every other report, left out of the curve.", "count of sessions with playback and "
           "no watched buckets", "sessions", "plays_without_data", scope="engagement", mux="None.",
           segment="None."),
    Metric("avg_watched_percent", "Average, over the plays with watched buckets, of the share of the "
           "video actually played: its watched buckets of 1 %, so skipped parts do not count and a part "
           "played twice counts once.", "sum(watched buckets) / plays_with_data", "percent",
           "sum_watched", "plays_with_data", scope="engagement",
           mux="Nearest: *Playing Time* relative to the duration, which counts repeats.", segment=_VIMEO),
    Metric("watched_share", "Plays with watched buckets that watched this 1 % of the video (at least "
           "half of it played in one stretch between seeks).", "plays watching the bucket / "
           "plays_with_data", "fraction", "watched", "plays_with_data", scope="bucket", mux="None.",
           segment="Nearest: `Video Content Playing` heartbeats bucketed by `position`."),
    Metric("watched_again_share", "Plays with watched buckets that watched this 1 % of the video in "
           "two stretches or more (a seek back, a replay).", "plays watching the bucket again / "
           "plays_with_data", "fraction", "watched_again", "plays_with_data", scope="bucket",
           mux="None.", segment="None; Wistia's heatmap shows rewatched parts per view."),
)

# The outcomes report (docs/metrics.md, "Business outcomes").
_OUTCOME_MUX = "None: Mux Data does not join playback to business outcomes."
_OUTCOME_SEGMENT = ("None in the video spec; a warehouse join of the video events with the site's own "
                    "conversion events.")
OUTCOMES: tuple[Metric, ...] = (
    Metric("people", "Viewers whose furthest engagement in the range puts them in the cohort (with an "
           "audience, also its members who never viewed in the range); for a CTA, the viewers who "
           "clicked it.", "count(distinct viewer)", "viewers", "people", scope="outcome cohort, CTA",
           mux=_OUTCOME_MUX, segment=_OUTCOME_SEGMENT),
    Metric("converted", "People with at least one outcome of the report's name that occurred from "
           "their first view in the range (for non-viewers: the range's first day, 00:00 UTC) until "
           "`attribution_days` later.", "count(distinct viewer with an outcome in the window)",
           "viewers", "converted", scope="outcome cohort, CTA", mux=_OUTCOME_MUX, segment=_OUTCOME_SEGMENT),
    Metric("conversion_rate", "Share of the people who converted.", "converted / people", "fraction",
           "converted", "people", scope="outcome cohort, CTA", mux=_OUTCOME_MUX, segment=_OUTCOME_SEGMENT),
    Metric("value", "The outcomes' values summed per currency, over every outcome in the window "
           "(a person converting twice counts twice here, once in `converted`).",
           "sum(value) per currency", "currency", "value", scope="outcome cohort",
           mux=_OUTCOME_MUX, segment=_OUTCOME_SEGMENT),
    Metric("median_days_to_convert", "Median, over the people who converted, of the time from the "
           "start of their window to their first outcome in it, in days.",
           "median(first outcome - window start)", "days", "median_days_to_convert",
           scope="outcome cohort", mux=_OUTCOME_MUX, segment=_OUTCOME_SEGMENT),
)

METRICS: dict[str, Metric] = {metric.name: metric for metric in SUMMARY}
OUTCOME_METRICS: dict[str, Metric] = {metric.name: metric for metric in OUTCOMES}


def compute(counts: Mapping[str, int | float | None],
            metrics: tuple[Metric, ...] = SUMMARY) -> dict[str, int | float | None]:
    """Metric values from counts; metrics whose counts are absent are left out."""
    return {metric.name: metric.value(counts) for metric in metrics
            if metric.numerator in counts and (metric.denominator is None or metric.denominator in counts)}


def markdown_table() -> str:
    """The definitions table of docs/metrics.md."""
    rows = ["| Metric | Per | Percus definition | Formula | Unit | Mux Data (nearest) | "
            "Segment video spec (nearest) |", "|---|---|---|---|---|---|---|"]
    for metric in (*SUMMARY, *PER_ITEM, *ENGAGEMENT, *OUTCOMES):
        cells = [f"`{metric.name}`", metric.scope, metric.description, f"`{metric.formula}`", metric.unit,
                 metric.mux, metric.segment]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


BEGIN = "<!-- metrics table: generated from pipeline/reporting/metrics.py -->"
END = "<!-- end of metrics table -->"


def sync_document(text: str) -> str:
    """docs/metrics.md with its table replaced by the current definitions."""
    return replace_block(text, BEGIN, END, markdown_table())
