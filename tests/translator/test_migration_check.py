"""The migration checker's scanner over the pages of fixtures/individeo/migrate/ and small snippets:
each Individeo dependency found once, with the status the Individeo tables give it."""

from __future__ import annotations

import pytest

from tests._fixtures import FIXTURES
from translator.individeo_attributes import INDIVIDEO_ATTRIBUTES, attribute_caveat
from translator.individeo_callbacks import callback
from translator.individeo_constants import BLUEPLAYER_CONSTANTS
from translator.migration_check import Finding, Names, check_text, collect_names

MIGRATE = FIXTURES / "individeo" / "migrate"
PAGES = {str(path.relative_to(MIGRATE)): path.read_text(encoding="utf-8")
         for path in sorted(MIGRATE.rglob("*")) if path.is_file()}
NAMES = collect_names(PAGES.values())
S, NOTE, NO = "supported", "supported, note", "not supported"

# (line, kind, matched text, status) of every finding, per page; texts compared on 60 characters.
EXPECTED: dict[str, list[tuple[int, str, str, str]]] = {
    "angular/individeo-video.component.html": [
        (3, "attribute", "data-iv-attachment-code", S),
        (4, "attribute", "data-iv-lang", S),
        (5, "attribute", "data-iv-auto-init", S),
        (6, "attribute", "data-iv-use-branding", NOTE),
        (7, "attribute", "data-iv-on-ready", S),
    ],
    "angular/individeo-video.component.ts": [
        (17, "method", "videoPlayer.initIndivideo", S),
        (20, "script src", "https://cdn.individeo.com/individeo/prod/v20/js/smartEmbed.js", NOTE),
        (24, "event bus", "BEM.bind", S),
        (24, "constant", "BluePlayer.ONFULLSCREENENTER", S),
        (25, "event bus", "BEM.bind", S),
        (25, "constant", "BluePlayer.ONFULLSCREENEXIT", S),
        (29, "method", "player?.destroy", S),
        (33, "global", "BEM", S),
        (34, "global", "BluePlayer", S),
    ],
    "iframe-preview.html": [
        (2, "iframe preview", '<iframe width="640" height="360" allowfullscreen '
                              'src="https://app.individeo.com/individeo/preview/zWx3-7781/?lang=en">', NO),
    ],
    "jquery-insert.js": [
        (4, "script src", "https://d3k9x0v2example.cloudfront.net/individeo/prod/v22/js/smartEmbed.js"
                          "?cb=20240611", NOTE),
        (5, "attribute", "data-bp-attachment-code", S),
        (6, "attribute", "data-bp-auto-init", S),
        (7, "attribute", "data-bp-on-ready", S),
        (11, "method", "smartPlayer.initIndivideo", S),
        (12, "method", "smartPlayer.play", S),
        (19, "script src", "//individeo-assets.s3.amazonaws.com/individeo/prod/v18/js/smartEmbed.js", NOTE),
        (20, "attribute", "data-iv-attachment-code", S),
        (21, "attribute", "dataset.ivLang", S),
    ],
    # Functions named onReady, onCTA, onPlay and a read of BluePlayer.current: none is a dependency.
    "own-functions.js": [],
    "php/video.php": [
        (3, "script src", "https://cdn.individeo.com/individeo/prod/v18/js/smartEmbed.js", NOTE),
        (4, "attribute", "data-bp-attachment-code", S),
        (5, "attribute", "data-bp-env", NOTE),
        (6, "attribute", "data-bp-individeo-data", S),
        (7, "attribute", "data-bp-is-subtitle", NOTE),
        (8, "attribute", "data-bp-on-ready", S),
    ],
    "server/relay.py": [
        (5, "REST API", "https://app.individeo.com/api/v2/recipients/", NO),
        (6, "indiTrack", "https://track.individeo.com/api/indiTrack?evt=onCTA", NO),
    ],
    "static-page.html": [
        (9, "script src", "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js", NOTE),
        (10, "attribute", "data-iv-attachment-code", S),
        (11, "attribute", "data-iv-lang", S),
        (12, "attribute", "data-iv-env", NOTE),
        (13, "attribute", "data-iv-recipient-code", S),
        (14, "attribute", "data-iv-auto-fullscreen", NOTE),
        (15, "attribute", "data-iv-on-ready", S),
        (20, "event bus", "BEM.bind", S),
        (20, "constant", "BluePlayer.ONMEDIACTA", S),
        (21, "method", "BluePlayer.current.destroy", S),
        (23, "event bus", "BEM.bind", S),
        (23, "constant", "BluePlayer.ONENTERFRAME", NOTE),
        (24, "event bus", "BEM.bind", S),
        (24, "callback", "onPlayComplete", S),
        (25, "method", "player.initIndivideo", S),
        (25, "global", "individeoData", S),
    ],
    "tracking-overrides.js": [
        (1, "global", "TRACK_BASE_URL", NO),  # an Individeo host
        (2, "global", "ivTrackingURL", NOTE),
        (5, "global", "TRACK_BASE_URL", NOTE),
        (5, "indiTrack", "/api/indiTrack?evt=onCTA", NOTE),
        (6, "callback", "onCTA", S),  # the post's body names its event
        (7, "global", "TRACK_BASE_URL", NOTE),
        (7, "indiTrack", "/api/indiTrack?evt=onScroll", NO),
    ],
    "unknown-attribute.html": [
        (1, "script src", "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js", NOTE),
        (2, "attribute", "data-iv-attachment-code", S),
        (3, "attribute", "data-iv-foo", NO),
    ],
    "unknown-constant.js": [
        (1, "event bus", "BEM.bind", S),
        (1, "constant", "BluePlayer.ONPLAY", S),
        (2, "event bus", "BEM.bind", S),
        (2, "constant", "BluePlayer.NOPE", NO),
    ],
    "vue/IndivideoVideo.vue": [
        (14, "script src", "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js", NOTE),
        (15, "attribute", "data-iv-attachment-code", S),
        (16, "attribute", "data-iv-lang", S),
        (17, "attribute", "data-iv-on-ready", S),
        (19, "event bus", "BEM.bind", S),
        (19, "constant", "BluePlayer.ONPLAYCOMPLETE", S),
        (22, "method", "player.destroy", S),
    ],
    "wordpress/post.html": [
        (2, "shortcode", '[individeo code="zWx3-7781" lang="es-CL" width="640"]', NO),
    ],
    "wordpress/shortcode.php": [
        (2, "shortcode", "add_shortcode('individeo'", NO),
        (4, "iframe preview", "<iframe src=\"https://app.individeo.com/individeo/preview/' . esc_attr(", NO),
    ],
}


def summary(findings: list[Finding]) -> list[tuple[int, str, str, str]]:
    return [(f.line, f.kind, f.text[:60], f.status) for f in findings]


def check(text: str, names: Names | None = None) -> list[tuple[str, str, str]]:
    return [(f.kind, f.text, f.status) for f in check_text(text, names or Names())]


def test_the_fixture_pages_are_the_expected_ones() -> None:
    assert sorted(PAGES) == sorted(EXPECTED)


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_each_fixture_page_has_exactly_its_findings(page: str) -> None:
    assert summary(check_text(PAGES[page], NAMES)) == [(line, kind, text[:60], status)
                                                       for line, kind, text, status in EXPECTED[page]]


def test_the_on_ready_functions_are_collected_from_every_page() -> None:
    assert NAMES.ready_functions == {"onIndivideoReady", "videoReady", "onIonicVideoReady", "ivReady",
                                     "onVueVideoReady"}


def test_positions_are_one_based_and_notes_come_from_the_tables() -> None:
    findings = check_text(PAGES["static-page.html"], NAMES)
    first = findings[0]
    assert (first.line, first.column) == (9, 14)
    auto_fullscreen = next(f for f in findings if f.text == "data-iv-auto-fullscreen")
    [attribute] = [a for a in INDIVIDEO_ATTRIBUTES if a.name == "auto-fullscreen"]
    assert auto_fullscreen.note == attribute_caveat(attribute)
    assert auto_fullscreen.verdict == f"supported, note: {attribute_caveat(attribute)}"
    enter_frame = next(f for f in findings if f.text == "BluePlayer.ONENTERFRAME")
    assert enter_frame.note.endswith(callback("onEnterFrame").note)  # type: ignore[union-attr]


@pytest.mark.parametrize("src", [
    "https://cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js",
    "https://cdn.individeo.com/individeo/prod/v18/js/smartEmbed.js",
    "https://cdn.individeo.com/individeo/prod/v20/js/smartEmbed.js?v=2",
    "https://bucket-name.s3.us-east-1.amazonaws.com/individeo/prod/v22/js/smartEmbed.js",
    "https://d111111abcdef8.cloudfront.net/individeo/prod/edge/js/smartEmbed.min.js",
    "//cdn.individeo.com/individeo/prod/edge/js/smartEmbed.js",
    "/vendor/SMARTEMBED.JS",
    "smartEmbed.js",
])
def test_a_smartembed_src_is_found_on_any_host_and_path(src: str) -> None:
    for page in (f'<script src="{src}"></script>', f"s.src = '{src}';", f"{{src: `{src}`}}"):
        assert check(page) == [("script src", src, NOTE)]


def test_prose_naming_smartembed_is_no_script() -> None:
    assert check("// this page used to load smartEmbed.js from Individeo") == []


@pytest.mark.parametrize(("page", "name"), [
    ('<div data-IV-Lang="fr">', "data-IV-Lang"),
    ("<script :data-bp-lang=\"lang\">", "data-bp-lang"),
    ('node.setAttribute("data-iv-lang", "fr")', "data-iv-lang"),
    ("node.dataset.bpLang = 'fr'", "dataset.bpLang"),
    ("node.dataset['ivLang'] = 'fr'", "dataset['ivLang"),
    ("<?php echo 'data-iv-lang=\"' . $lang . '\"'; ?>", "data-iv-lang"),
])
def test_attributes_are_found_however_they_are_written(page: str, name: str) -> None:
    assert check(page) == [("attribute", name, S)]


def test_an_attribute_or_global_still_pointing_at_individeo_must_change() -> None:
    assert check('<script data-iv-tracking-url="https://track.individeo.com">') == [
        ("attribute", "data-iv-tracking-url", NO)]
    assert check("window.ivTrackingURL = 'https://collect.example.com/analytics/v1';") == [
        ("global", "ivTrackingURL", NOTE)]


def test_globals_the_compat_script_provides_and_those_it_only_carries() -> None:
    assert check("window.smartEmbedModal.open('zWx3-7781');") == [("global", "smartEmbedModal", S)]
    assert check("var key = window.ivtgk;") == [("global", "ivtgk", NOTE)]


def test_every_blueplayer_constant_is_known() -> None:
    page = "\n".join(f"BluePlayer.{c.name}" for c in BLUEPLAYER_CONSTANTS)
    assert {status for _, _, status in check(page)} <= {S, NOTE}
    assert len(check(page)) == len(BLUEPLAYER_CONSTANTS)


def test_the_player_is_found_by_its_on_ready_function_even_in_another_file() -> None:
    tag = '<script src="/smartEmbed.js" data-iv-on-ready="app.video.ready"></script>'
    code = "app.video.ready = function (p) { p.pause(); p.seek(10); p.hasOwnProperty('x'); p.onCTA(f); };"
    names = collect_names([tag, code])
    assert names.ready_functions == {"ready"}
    assert check(code, names) == [("method", "p.pause", S), ("method", "p.seek", NO),
                                  ("callback", "p.onCTA", S)]
    assert check(code) == []  # without the tag, p is any object


def test_methods_of_other_objects_are_not_the_players() -> None:
    page = ("function onReady(player) { player.play(); }\n"
            "video.play(); form.reset(); timer.stop(); BluePlayer.current.isPrototypeOf(x);")
    assert check(page, Names(frozenset({"onReady"}))) == [("method", "player.play", S)]


def test_a_stored_player_is_followed() -> None:
    page = "var ivPlayer = BluePlayer.current; ivPlayer.replay(); ivPlayer.mute();"
    assert check(page) == [("method", "ivPlayer.replay", S), ("method", "ivPlayer.mute", NO)]


def test_bus_events_are_checked_against_the_callbacks_and_the_pages_own_events() -> None:
    page = 'BEM.bind("OnPlay", f); BEM.bind("onVideoEnded", g); BEM.bind("pageStep", h); BEM.off("x");'
    assert check(page) == [
        ("event bus", "BEM.bind", S), ("callback", "OnPlay", S),
        ("event bus", "BEM.bind", S), ("callback", "onVideoEnded", NO),
        ("event bus", "BEM.bind", S), ("callback", "pageStep", NO),
        ("event bus", "BEM.off", NO),
    ]
    own = collect_names(['BEM.trigger("pageStep", {step: 2});'])
    assert ("callback", "pageStep", NO) not in check(page, own)


def test_what_a_src_swap_cannot_reach() -> None:
    assert check("$url = 'https://api.individeo.com/v1/recipients';") == [
        ("REST API", "https://api.individeo.com/v1/recipients", NO)]
    assert check("const url = `${base}/individeo/preview/${code}/?lang=${lang}`;") == [
        ("iframe preview", "${base}/individeo/preview/${code}/?lang=${lang}", NO)]
    assert check("<IFRAME SRC='https://www.youtube.com/embed/x'></IFRAME>") == []
    assert check("items[individeoIndex]; [individeo_video code=x]") == [
        ("shortcode", "[individeo_video code=x]", NO)]


def test_indi_track_posts_to_the_gateway_are_supported() -> None:
    assert check("post(GATEWAY + '/analytics/v1/indiTrack?evt=pageLoad')") == [
        ("indiTrack", "/analytics/v1/indiTrack?evt=pageLoad", NOTE)]


def test_a_megabyte_of_inline_base64_is_read_in_linear_time() -> None:
    blob = "A/b+" * 250_000  # quadratic URL patterns would take hours over this
    assert check(f'<img src="data:image/png;base64,{blob}"> <a href="//{blob}">') == []
