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


def dropoff_chart(dropoff: Mapping[str, Any]) -> Chart:
    """A `reports.dropoff` result: the plays started, then the share reaching each milestone."""
    plays = dropoff["plays"]
    return columns("Plays reaching each point of the video", [
        Item("Started", plays, count(plays)),
        *(Item(f"{milestone['percent']} %", milestone["sessions"], share(milestone["fraction"]))
          for milestone in dropoff["milestones"])], scale=plays)
