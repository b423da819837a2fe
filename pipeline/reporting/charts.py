"""Chart geometry for inline SVG, shared by the dashboard and the weekly PDF digest: the server lays out
rectangles and labels, the templates only draw them. No script, no CDN: the charts work offline, in
any browser and on paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.reporting.formatting import count, share

LABEL_CHARS = 22


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    label: str  # what the bar stands for (also the data-label attribute tests read)
    value: float
    kind: str = "bar"  # CSS classes


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor
    kind: str = "label"  # CSS class: label or value


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]


@dataclass(frozen=True)
class Item:
    label: str
    value: float  # drawn length
    shown: str  # the value as printed beside the bar


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bars(title: str, items: Sequence[Item], *, scale: float | None = None, width: int = 520,
         label_width: int = 190, row: int = 26) -> Chart:
    """Horizontal bars, one row per item, lengths relative to `scale` (default: the largest value)."""
    top = scale if scale is not None else max((item.value for item in items), default=0)
    track = width - label_width - 100  # room for the printed value after the longest bar
    rects, texts = [], []
    for index, item in enumerate(items):
        y = index * row + 4
        length = track * item.value / top if top > 0 else 0
        rects.append(Rect(label_width, y, round(max(length, 1.0), 1), row - 10, item.label, item.value))
        texts.append(Text(label_width - 8, y + row / 2 - 1, _short(item.label), "end"))
        texts.append(Text(label_width + length + 6, y + row / 2 - 1, item.shown, kind="value"))
    return Chart(title, width, max(len(items), 1) * row + 8, tuple(rects), tuple(texts))


def columns(title: str, items: Sequence[Item], *, scale: float | None = None, width: int = 520,
            height: int = 200) -> Chart:
    """Vertical columns side by side, heights relative to `scale` (default: the largest value)."""
    top = scale if scale is not None else max((item.value for item in items), default=0)
    plot = height - 44  # a line for the values above, a line for the labels below
    slot = width / max(len(items), 1)
    rects, texts = [], []
    for index, item in enumerate(items):
        tall = plot * item.value / top if top > 0 else 0
        x, base = index * slot, height - 24
        rects.append(Rect(round(x + slot * 0.18, 1), round(base - max(tall, 1.0), 1), round(slot * 0.64, 1),
                          round(max(tall, 1.0), 1), item.label, item.value))
        texts.append(Text(round(x + slot / 2, 1), round(base - tall - 6, 1), item.shown, "middle", "value"))
        texts.append(Text(round(x + slot / 2, 1), height - 6, _short(item.label), "middle"))
    return Chart(title, width, height, tuple(rects), tuple(texts))


def engagement_chart(engagement: Mapping[str, Any], *, width: int = 520, height: int = 200) -> Chart:
    """A `reports.engagement` result as a curve: per 1 % of the video, a column as tall as the share
    of plays that watched it, and over it one for the share that watched it again."""
    plot, base = height - 44, height - 24
    slot = width / max(len(engagement["buckets"]), 1)
    rects, texts = [], []
    for bucket in engagement["buckets"]:
        x = round(bucket["bucket"] * slot, 1)
        for name, kind in (("watched", "bar"), ("watched_again", "bar again")):
            fraction = bucket[f"{name}_share"] or 0.0
            tall = round(plot * fraction, 1)
            label = f"{bucket['bucket']}-{bucket['bucket'] + 1} %: {share(fraction)} {name.replace('_', ' ')}"
            rects.append(Rect(x, round(base - tall, 1), round(slot, 1), tall, label, fraction, kind))
    for percent in (0, 25, 50, 75, 100):
        anchor = "start" if percent == 0 else "end" if percent == 100 else "middle"
        texts.append(Text(round(width * percent / 100, 1), height - 6, f"{percent} %", anchor))
    texts.append(Text(0, 10, "100 % of plays", kind="value"))
    return Chart("Share of plays that watched each 1 % of the video, and watched it again", width, height,
                 tuple(rects), tuple(texts))


def dropoff_chart(dropoff: Mapping[str, Any]) -> Chart:
    """A `reports.dropoff` result: the plays started, then the share reaching each milestone."""
    plays = dropoff["plays"]
    return columns("Plays reaching each point of the video", [
        Item("Started", plays, count(plays)),
        *(Item(f"{milestone['percent']} %", milestone["sessions"], share(milestone["fraction"]))
          for milestone in dropoff["milestones"])], scale=plays)
