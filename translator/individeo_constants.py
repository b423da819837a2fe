"""BluePlayer's event constants: `BEM.bind(BluePlayer.X, fn(e, p))` in customers' pages.

Each constant has the string value field code binds to (as observed in customers' code, casing
included: `ONPLAY` is "OnPlay") and the on* callback it fires with; the callback's trigger ties it
to the canonical events. The compat script triggers `BEM` with the value and the callback by name
from the same source event, so both styles of subscription see the same events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BluePlayerConstant:
    name: str
    value: str
    callback: str


CURRENT = "current"  # BluePlayer.current: the latest player, null once destroyed; no constant

BLUEPLAYER_CONSTANTS: tuple[BluePlayerConstant, ...] = (
    BluePlayerConstant("ONREADY", "onReady", "onReady"),
    BluePlayerConstant("ONPLAY", "OnPlay", "onPlay"),
    BluePlayerConstant("ONSTART", "onStart", "onStart"),
    BluePlayerConstant("ONPAUSE", "OnPause", "onPause"),
    BluePlayerConstant("ONSTOP", "OnStop", "onStop"),
    BluePlayerConstant("ONMUTE", "OnMute", "onMute"),
    BluePlayerConstant("ONUNMUTE", "OnUnmute", "onUnmute"),
    BluePlayerConstant("ONVOLUMECHANGE", "onVolumeChange", "onVolumeChange"),
    BluePlayerConstant("ONLOADPROGRESS", "onLoadProgress", "onLoadProgress"),
    BluePlayerConstant("ONLOADCOMPLETE", "onLoadComplete", "onLoadComplete"),
    BluePlayerConstant("ONMEDIACHANGE", "onMediaChange", "onMediaChange"),
    BluePlayerConstant("ONMETADATA", "onMetaData", "onMetaData"),
    BluePlayerConstant("ONPRELOADSTART", "onPreloadStart", "onPreloadStart"),
    BluePlayerConstant("ONPRELOADEND", "onPreloadEnd", "onPreloadEnd"),
    BluePlayerConstant("ONTIME", "OnTime", "onTime"),
    BluePlayerConstant("ONSEEKSTART", "OnSeekStart", "onSeekStart"),
    BluePlayerConstant("ONSEEK", "OnSeek", "onSeek"),
    BluePlayerConstant("ONSEEKEND", "OnSeekEnd", "onSeekEnd"),
    BluePlayerConstant("ONBUFFERSTART", "OnBufferStart", "onBufferStart"),
    BluePlayerConstant("ONBUFFEREND", "OnBufferEnd", "onBufferEnd"),
    BluePlayerConstant("ONFIRSTQUARTILECOMPLETE", "onFirstQuartileComplete", "onFirstQuartileComplete"),
    BluePlayerConstant("ONMIDPOINTCOMPLETE", "onMidPointComplete", "onMidPointComplete"),
    BluePlayerConstant("ONTHIRDQUARTILECOMPLETE", "onThirdQuartileComplete", "onThirdQuartileComplete"),
    BluePlayerConstant("ONPLAYCOMPLETE", "onPlayComplete", "onPlayComplete"),
    BluePlayerConstant("ONPLAYINCOMPLETE", "onPlayIncomplete", "onPlayIncomplete"),
    BluePlayerConstant("ONMEDIACTA", "onMediaCTA", "onMediaCTA"),
    BluePlayerConstant("ONERROR", "OnError", "onError"),
    BluePlayerConstant("ONFULLSCREENENTER", "onFullscreenEnter", "onFullscreenEnter"),
    BluePlayerConstant("ONFULLSCREENEXIT", "onFullscreenExit", "onFullscreenExit"),
    BluePlayerConstant("ONCLOSEDCAPTIONENTER", "onClosedCaptionEnter", "onClosedCaptionEnter"),
    BluePlayerConstant("ONCLOSEDCAPTIONEXIT", "onClosedCaptionExit", "onClosedCaptionExit"),
    BluePlayerConstant("ONCLOSEDCAPTIONREADY", "onClosedCaptionReady", "onClosedCaptionReady"),
    BluePlayerConstant("ONCLOSEDCAPTIONLOADCOMPLETED", "onClosedCaptionLoadCompleted",
                       "onClosedCaptionLoadCompleted"),
    BluePlayerConstant("ONCONTROLERSHOW", "onControlerShow", "onControlerShow"),
    BluePlayerConstant("ONCONTROLERHIDE", "onControlerHide", "onControlerHide"),
    BluePlayerConstant("ONENTERFRAME", "onEnterFrame", "onEnterFrame"),
    BluePlayerConstant("ONDESTROY", "onDestroy", "onDestroy"),
)
