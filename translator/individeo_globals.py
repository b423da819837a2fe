"""Individeo's window globals and player methods, and their Percus counterparts (design section 8.2).

The compat script defines each legacy global as a getter/setter over the Percus one, so a page that
reads or writes either name sees the same value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Global:
    legacy: str
    percus: str | None  # None: the compat script provides the legacy object itself
    note: str
    caveat: str = ""  # what a page relying on it must know after the swap (`percus migrate check`)


@dataclass(frozen=True)
class PlayerMethod:
    name: str
    percus: str
    note: str


# An Individeo tracking address left on a page would now steer the Percus SDK to Individeo.
TRACKING_URL_CAVEAT = "An Individeo URL here must be removed or pointed at the gateway."

GLOBALS: tuple[Global, ...] = (
    Global("individeoData", "percusData", "Personalization data for the player."),
    Global("IndivideoVersion", "percusVersion", "Version of the loaded script."),
    Global("IVDomains", "percusDomains", "Origins the script talks to (player, gateway)."),
    Global("SmartTracking", "percusTracking", "The tracking module; undefined until consent loads it."),
    Global("ivTrackerKey", "percusSessionKey", "Key of the current session (its session_id)."),
    Global("ivtgk", "percusTrackerGroupKey", "The legacy tracker group key.",
           "Nothing sets it after the swap: it holds only what the page writes."),
    Global("ivTrackingURL", "percusTrackingURL", "Tracking URL override, above the tag's attribute.",
           TRACKING_URL_CAVEAT),
    Global("TRACK_BASE_URL", "PERCUS_TRACK_BASE_URL",
           "Tracking base override. Individeo's value is a host root it appends /api/indiTrack to; "
           "the compat script appends /analytics/v1 to a value that has no path.", TRACKING_URL_CAVEAT),
    Global("smartEmbedModal", "percusModal",
           "The modal helper: percusModal.open(attachmentCode, attributes) shows that attachment's player "
           "in a modal dialog; percusModal.close() closes it and destroys the player."),
    Global("BluePlayer", "percusPlayer",
           "The player namespace: the event constants below and BluePlayer.current, the current player."),
    Global("BEM", None,
           "The event bus: BEM.bind(BluePlayer.X, fn(e, p)), BEM.unbind(...), BEM.trigger(...)."),
)

BUS_METHODS = ("bind", "unbind", "trigger")  # of BEM

PLAYER_METHODS: tuple[PlayerMethod, ...] = (
    PlayerMethod("initIndivideo", "player command init or personalize",
                 "Hands its argument, the personalization data, to the player. Its first call starts a "
                 "player that waits for it (auto-init false); on a started player (auto-init on, the "
                 "usual case) it personalizes it, until playback starts and once. A call that is not "
                 "applied is a console warning."),
    PlayerMethod("play", "Percus.play()", "Start or resume playback."),
    PlayerMethod("pause", "Percus.pause()", "Pause playback."),
    PlayerMethod("replay", "player command replay", "Rewind to the start and play."),
    PlayerMethod("reset", "player command reset", "Rewind to the start, paused."),
    PlayerMethod("stop", "player command stop", "Pause and rewind; fires onStop."),
    PlayerMethod("destroy", "Percus.destroy()",
                 "Remove the player; fires onDestroy. A page may then insert a new script tag."),
)
