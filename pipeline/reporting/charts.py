"""Chart geometry for inline SVG, shared by the dashboard and the weekly PDF digest: the server lays out
rectangles, axis lines and labels, the templates only draw them. No script, no CDN: the charts work
offline, in any browser and on paper. Every chart has a value axis with round ticks in its unit, and a
description (the values as text) for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.reporting.formatting import count, share

LABEL_CHARS = 22
AXIS_ROOM = 22  # below a plot: tick labels and the axis caption
MOST_TICKS = 5


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
    kind: str = "label"  # CSS class: label, value or tick


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    kind: str = "axis"  # CSS class: axis (the baseline) or grid (a tick's guide)


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    texts: tuple[Text, ...]
    lines: tuple[Line, ...] = ()
    description: str = ""  # the SVG's <desc>: what a screen reader says after the title


@dataclass(frozen=True)
class Item:
    label: str
    value: float  # drawn length
    shown: str  # the value as printed beside the bar


@dataclass(frozen=True)
class Axis:
    """A value axis: round ticks from 0, printed as counts of `unit` or, for fractions, in percent."""

    unit: str  # what is counted ("views"), or what the percentage is of ("of plays")
    fraction: bool = False

    def ticks(self, top: float) -> list[float]:
        """0 and steps of 1, 2 or 5 × 10ⁿ (whole numbers for counts) up to at least `top`."""
        if self.fraction:
            return [0, 0.25, 0.5, 0.75, 1.0]
        if top <= 0:
            return [0, 1]
        raw = top / MOST_TICKS
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
        step = max(step, 1)
        return [n * step for n in range(math.ceil(top / step - 1e-9) + 1)]

    def tick(self, value: float) -> str:
        return f"{value * 100:.0f} %" if self.fraction else count(value)



def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _describe(items: Sequence[Item]) -> str:
    return "; ".join(f"{item.label}: {item.shown}" for item in items) or "No data."


def bars(title: str, items: Sequence[Item], axis: Axis, *, scale: float | None = None, width: int = 520,
         label_width: int = 190, row: int = 26) -> Chart:
    """Horizontal bars, one row per item, on a value axis below them from 0 to a round value at or
    above `scale` (default: the largest value)."""
    ticks = axis.ticks(scale if scale is not None else max((item.value for item in items), default=0))
    top = ticks[-1]
    track = width - label_width - 100  # room for the printed value after the longest bar
    rects, texts, lines = [], [], []
    for index, item in enumerate(items):
        y = index * row + 4
        length = track * item.value / top if top > 0 else 0
        rects.append(Rect(label_width, y, round(max(length, 1.0), 1), row - 10, item.label, item.value))
        texts.append(Text(label_width - 8, y + row / 2 - 1, _short(item.label), "end"))
        texts.append(Text(round(label_width + length + 6, 1), y + row / 2 - 1, item.shown, kind="value"))
    base = max(len(items), 1) * row + 2
    lines.append(Line(label_width, 0, label_width, base))
    lines.append(Line(label_width, base, label_width + track, base))
    for tick in ticks:
        x = round(label_width + track * tick / top, 1)
        lines.append(Line(x, base, x, base + 4))
        if tick:
            lines.append(Line(x, 0, x, base, "grid"))
        if tick == top:  # the unit follows the last number, kept centred on its tick (~3 px a half-digit)
            number = axis.tick(tick)
            texts.append(Text(round(x - 3 * len(number), 1), base + 13, f"{number} {axis.unit}", kind="tick"))
        else:
            texts.append(Text(x, base + 13, axis.tick(tick), "middle", "tick"))
    description = f"{_describe(items)}. Axis: 0 to {axis.tick(top)} {axis.unit}."
    return Chart(title, width, base + AXIS_ROOM, tuple(rects), tuple(texts), tuple(lines), description)


def columns(title: str, items: Sequence[Item], axis: Axis, *, scale: float | None = None, width: int = 520,
            height: int = 200, label_every: int = 1) -> Chart:
    """Vertical columns side by side on a value axis at the left, from 0 to a round value at or above
    `scale` (default: the largest value); every `label_every`-th column is labelled below."""
    ticks = axis.ticks(scale if scale is not None else max((item.value for item in items), default=0))
    top = ticks[-1]
    left = 46  # the tick labels
    plot = height - 44 - 12  # a line for the values above, the unit caption, the labels below
    base = height - 24
    slot = (width - left) / max(len(items), 1)
    rects, texts, lines = [], [], []
    for index, item in enumerate(items):
        tall = plot * item.value / top if top > 0 else 0
        x = left + index * slot
        rects.append(Rect(round(x + slot * 0.18, 1), round(base - max(tall, 1.0), 1), round(slot * 0.64, 1),
                          round(max(tall, 1.0), 1), item.label, item.value))
        if item.value:
            texts.append(Text(round(x + slot / 2, 1), round(base - tall - 6, 1), item.shown, "middle",
                              "value"))
        if index % label_every == 0:
            texts.append(Text(round(x + slot / 2, 1), height - 6, _short(item.label), "middle"))
    lines.append(Line(left, base, width, base))
    lines.append(Line(left, base - plot, left, base))
    for tick in ticks:
        y = round(base - plot * tick / top, 1)
        lines.append(Line(left - 4, y, left, y))
        if tick:
            lines.append(Line(left, y, width, y, "grid"))
        texts.append(Text(left - 7, y, axis.tick(tick), "end", "tick"))
    texts.append(Text(0, 7, axis.unit, kind="tick"))
    description = f"{_describe(items)}. Axis: 0 to {axis.tick(top)} {axis.unit}."
    return Chart(title, width, height, tuple(rects), tuple(texts), tuple(lines), description)


def engagement_chart(engagement: Mapping[str, Any], *, width: int = 520, height: int = 200) -> Chart:
    """A `reports.engagement` result as a curve: per 1 % of the video, a column as tall as the share
    of plays that watched it, and over it one for the share that watched it again."""
    axis = Axis("of plays", fraction=True)
    left, base = 46, height - 24
    plot = height - 44 - 12
    slot = (width - left) / max(len(engagement["buckets"]), 1)
    rects, texts, lines = [], [], []
    for bucket in engagement["buckets"]:
        x = round(left + bucket["bucket"] * slot, 1)
        for name, kind in (("watched", "bar"), ("watched_again", "bar again")):
            fraction = bucket[f"{name}_share"] or 0.0
            tall = round(plot * fraction, 1)
            label = f"{bucket['bucket']}-{bucket['bucket'] + 1} %: {share(fraction)} {name.replace('_', ' ')}"
            rects.append(Rect(x, round(base - tall, 1), round(slot, 1), tall, label, fraction, kind))
    for percent in (0, 25, 50, 75, 100):
        anchor = "start" if percent == 0 else "end" if percent == 100 else "middle"
        texts.append(Text(round(left + (width - left) * percent / 100, 1), height - 6,
                          f"{percent} %", anchor))
    lines.append(Line(left, base, width, base))
    lines.append(Line(left, base - plot, left, base))
    for tick in axis.ticks(1):
        y = round(base - plot * tick, 1)
        lines.append(Line(left - 4, y, left, y))
        if tick:
            lines.append(Line(left, y, width, y, "grid"))
        texts.append(Text(left - 7, y, axis.tick(tick), "end", "tick"))
    texts.append(Text(0, 7, axis.unit, kind="tick"))
    quarters = [engagement["buckets"][n] for n in (0, 25, 50, 75, 99) if n < len(engagement["buckets"])]
    description = "; ".join(f"{b['bucket']} % of the video: {share(b['watched_share'])} watched, "
                            f"{share(b['watched_again_share'])} watched again" for b in quarters)
    return Chart("Share of plays that watched each 1 % of the video, and watched it again", width, height,
                 tuple(rects), tuple(texts), tuple(lines), f"{description}. Axis: 0 to 100 % of plays.")


def dropoff_chart(dropoff: Mapping[str, Any]) -> Chart:
    """A `reports.dropoff` result in one unit, the share of plays: all of them started, then the share
    reaching each milestone (the number of plays is printed beside the chart)."""
    plays = dropoff["plays"]
    return columns("Share of plays reaching each point of the video", [
        Item("Started", 1.0 if plays else 0.0, share(1.0 if plays else None)),
        *(Item(f"{milestone['percent']} %", milestone["fraction"] or 0.0, share(milestone["fraction"]))
          for milestone in dropoff["milestones"])], Axis("of plays", fraction=True))
