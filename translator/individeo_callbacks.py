"""Individeo's on* callbacks and the Percus event that fires each one (design section 8.3).

A callback fires on a trigger: a canonical event type or a Percus player event (local only, never
sent to the gateway), optionally narrowed to some payload values, to the first occurrence, or to the
first occurrence after a completion. The player re-emits canonical events to the page whether or
not tracking is on, so callbacks keep firing without consent. A callback without a trigger is a
no-op stub: defined, so customer code never throws, and documented as never firing. Callbacks that
share a trigger fire in table order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from translator.individeo_wire import WIRE_EVENTS

Occurrence = Literal["each", "first", "after_completed"]
OCCURRENCES: tuple[Occurrence, ...] = ("each", "first", "after_completed")


@dataclass(frozen=True)
class PlayerEvent:
    name: str
    fields: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Trigger:
    event: str
    match: tuple[tuple[str, Any], ...] = ()  # payload fields that must equal these values
    # "first": once per player; "after_completed": the first one after each video.completed, before
    # the next video.played (which may be that one).
    occurrence: Occurrence = "each"
    option: str | None = None  # a player option that must be on


@dataclass(frozen=True)
class Callback:
    name: str
    trigger: Trigger | None  # None: no-op stub
    note: str = ""


PLAYER_EVENTS: tuple[PlayerEvent, ...] = (
    PlayerEvent("player.created", (), "The SDK inserted the player iframe."),
    PlayerEvent("player.loaded", (), "The player iframe finished loading."),
    PlayerEvent("player.ready", (), "The player is ready: template and personalization data loaded."),
    PlayerEvent("player.stopped", ("position_ms",), "Playback stopped and rewound (player.stop())."),
    PlayerEvent("player.destroyed", (), "The player was removed (Percus.destroy(), player.destroy())."),
    PlayerEvent("player.fullscreen_entered", (), "The player entered fullscreen."),
    PlayerEvent("player.fullscreen_exited", (), "The player left fullscreen."),
    PlayerEvent("player.captions_shown", (), "Closed captions were turned on."),
    PlayerEvent("player.captions_hidden", (), "Closed captions were turned off."),
    PlayerEvent("media.metadata_loaded", ("duration_ms",),
                "Media metadata loaded; playback can start. Right after player.ready when the media loaded "
                "first."),
    PlayerEvent("media.preload_started", (),
                "The media started loading (the video element's loadstart, or loading already under way "
                "when the player started)."),
    PlayerEvent("media.preload_ended", (),
                "Enough of the media loaded to start playing (the first canplay)."),
    PlayerEvent("media.load_progressed", ("loaded_percent",),
                "More of the media is buffered: loaded_percent (0-100, one decimal) of its duration. At "
                "each whole percent or more, and at 100."),
    PlayerEvent("media.load_completed", (), "All of the media is loaded (once per media)."),
    PlayerEvent("media.time_updated", ("position_ms", "duration_ms"),
                "The playhead moved (the video element's timeupdate, a few times a second)."),
    PlayerEvent("media.seek_started", ("position_ms",), "The viewer started moving the playhead."),
    PlayerEvent("media.seeked", ("position_ms",),
                "The viewer moved the playhead. The player's own rewinds (replay(), reset(), stop(), play "
                "pressed at the end) are not seeks."),
    PlayerEvent("media.buffering_started", ("position_ms",), "Playback waits for data."),
    PlayerEvent("media.buffering_ended", ("position_ms",), "Playback resumed after waiting for data."),
    PlayerEvent("media.muted", (), "Sound was muted."),
    PlayerEvent("media.unmuted", (), "Sound was unmuted."),
    PlayerEvent("media.volume_changed", ("volume", "muted"), "Volume or mute changed."),
)
# Fields the player adds to a canonical event's message for the page only; dropped at ingest.
PLAYER_MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {"cta.clicked": ("service",)}

_IFRAME = "happens inside the player iframe; Percus raises no event for it."

CALLBACKS: tuple[Callback, ...] = (
    # Lifecycle.
    Callback("onCreate", Trigger("player.created")),
    Callback("onIFrameReady", Trigger("player.loaded")),
    Callback("onDataReady", Trigger("player.ready"), "Fires just before onReady."),
    Callback("onReady", Trigger("player.ready")),
    Callback("onStart", Trigger("media.metadata_loaded")),
    Callback("onMetaData", Trigger("media.metadata_loaded")),
    Callback("onStop", Trigger("player.stopped")),
    Callback("onDestroy", Trigger("player.destroyed")),
    # Playback.
    Callback("onPlay", Trigger("video.played")),
    Callback("onFirstPlay", Trigger("video.played", occurrence="first")),
    Callback("onAutoplay", Trigger("video.played", occurrence="first", option="autoplay"),
             "The first play of a player with autoplay on."),
    Callback("onReplay", Trigger("video.played", occurrence="after_completed")),
    Callback("onPause", Trigger("video.paused")),
    Callback("onAutoplayFailure", Trigger("autoplay.failed")),
    Callback("onFirstQuartileComplete", Trigger("video.progressed", (("percent", 25),))),
    Callback("onSecondQuartileComplete", Trigger("video.progressed", (("percent", 50),))),
    Callback("onMidPointComplete", Trigger("video.progressed", (("percent", 50),))),
    Callback("onThirdQuartileComplete", Trigger("video.progressed", (("percent", 75),))),
    Callback("onLastQuartileComplete", Trigger("video.completed")),
    Callback("onPlayComplete", Trigger("video.completed")),
    Callback("onPlayIncomplete", Trigger("media.seeked", occurrence="after_completed"),
             "Individeo's meaning: completed, then moved back before the end. Fires on the viewer's first "
             "seek after a completion, before the video plays again; the player's own rewinds (replay(), "
             "reset(), stop(), play pressed at the end) are not seeks. Leaving early is video.incomplete, "
             "which has no legacy callback."),
    Callback("onError", Trigger("video.errored")),
    # Engagement and consent.
    Callback("onCTA", Trigger("cta.clicked"), "Every CTA, service CTAs included."),
    Callback("onMediaCTA", Trigger("cta.clicked")),
    Callback("onServiceCTA", Trigger("cta.clicked", (("service", True),)),
             "A CTA the player marks as a service CTA."),
    Callback("onInteraction", Trigger("interaction.engaged")),
    Callback("onChapterEnter", Trigger("chapter.entered")),
    Callback("onChapterExit", Trigger("chapter.exited")),
    Callback("onConsentAccepted", Trigger("consent.accepted")),
    Callback("onConsentDeclined", Trigger("consent.declined")),
    Callback("onTrackerKeyDefined", Trigger("session.started"),
             "The tracking module defined the session key (after consent)."),
    # Media and interface.
    Callback("onPreloadStart", Trigger("media.preload_started")),
    Callback("onPreloadEnd", Trigger("media.preload_ended")),
    Callback("onLoadProgress", Trigger("media.load_progressed")),
    Callback("onLoadComplete", Trigger("media.load_completed")),
    Callback("onMute", Trigger("media.muted")),
    Callback("onUnmute", Trigger("media.unmuted")),
    Callback("onVolumeChange", Trigger("media.volume_changed")),
    Callback("onTime", Trigger("media.time_updated")),
    Callback("onSeekStart", Trigger("media.seek_started")),
    Callback("onSeek", Trigger("media.seeked")),
    Callback("onSeekEnd", Trigger("media.seeked"), "A video element has no separate end of seek."),
    Callback("onBufferStart", Trigger("media.buffering_started")),
    Callback("onBufferEnd", Trigger("media.buffering_ended")),
    Callback("onFullscreenEnter", Trigger("player.fullscreen_entered")),
    Callback("onFullscreenExit", Trigger("player.fullscreen_exited")),
    Callback("onClosedCaptionEnter", Trigger("player.captions_shown")),
    Callback("onClosedCaptionExit", Trigger("player.captions_hidden")),
    # No-op stubs.
    Callback("onClosedCaptionLoadCompleted", None, "Loading captions " + _IFRAME),
    Callback("onClosedCaptionReady", None, "Loading captions " + _IFRAME),
    Callback("onMediaChange", None, "A Percus embed plays one media."),
    Callback("onControlerShow", None, "Showing the controls " + _IFRAME),
    Callback("onControlerHide", None, "Hiding the controls " + _IFRAME),
    Callback("onEnterFrame", None, "Per-frame callbacks across the iframe boundary are not offered; "
                                   "use onTime."),
    Callback("onEvent", None, "Page-defined events have no Percus source."),
    Callback("onLog", None, "Diagnostics are not re-emitted."),
    Callback("onGATracking", None, "GA forwarding raises no callback."),
)

_BY_NAME = {callback.name: callback for callback in CALLBACKS}
# Legacy handler fields with no wire counterpart: an exited chapter is named by its id.
_EXTRA_PAYLOAD_FIELDS = (("chapter.exited", "chapterName", "chapter_id"),)


def callback(name: str) -> Callback | None:
    return _BY_NAME.get(name)


def legacy_payload_fields() -> dict[str, tuple[tuple[str, str], ...]]:
    """Canonical event type → (legacy field, canonical payload field) handed to legacy handlers.

    The same pairs the wire translation reads, the other way round: a page reading `p.ctaName` in
    a BEM handler gets the cta_name of the event that fired it.
    """
    pairs: dict[str, dict[str, str]] = {}
    for event in WIRE_EVENTS:
        if event.event_type is not None:
            pairs.setdefault(event.event_type, {}).update(event.fields)
    for event_type, legacy, canonical in _EXTRA_PAYLOAD_FIELDS:
        pairs.setdefault(event_type, {})[legacy] = canonical
    return {event_type: tuple(fields.items()) for event_type, fields in pairs.items() if fields}
