"""The health page's chart of sends and failures per hour, laid out on the server as SVG.

The bars are on a logarithmic scale, labelled as such, so that one hour's burst (a
backlog delivered after an outage, thirty times the usual rate) leaves the other hours
readable instead of flattening them; every gridline is ten times the one below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django_brockman.counters import HourCount

WIDTH = 760
HEIGHT = 240
LEFT = 56  # room for the y-axis figures
BOTTOM = 24  # room for the hour labels
TOP = 12
RIGHT = 24  # room for half of the last hour's label
LABEL_EVERY = 3  # hours between x-axis labels
MIN_TICK_GAP = 14  # pixels between two y-axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int


@dataclass(frozen=True)
class Slot:
    """One hour: its sends and its failures (retried or given up), side by side."""

    label: str  # "13:00", the hour's start in UTC
    show_label: bool
    label_x: float
    sent: Bar
    failures: Bar
    retried: int
    failed: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class HourlyChart:
    width: int
    height: int
    slots: list[Slot]
    ticks: list[Tick]
    peak: int  # the count at the top of the plot
    baseline: float  # y of the x axis
    left: int
    top: int

    @property
    def right(self) -> int:
        """The x where the plot ends."""
        return self.width - RIGHT


def short(count: int) -> str:
    """1, 10, 100, 1k, 10k, 100k, 1M: a power of ten as an axis label."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


class LogScale:
    """Heights on log10(1 + count), so that 0 sits on the axis and the peak at the top."""

    def __init__(self, peak: int, plot_height: float) -> None:
        self.top = math.log10(1 + peak)
        self.plot_height = plot_height

    def height(self, count: int) -> float:
        return self.plot_height * math.log10(1 + count) / self.top if self.top else 0.0


def hourly_chart(
    hours: Sequence[HourCount], width: int = WIDTH, height: int = HEIGHT
) -> HourlyChart:
    """Lay out two bars an hour, scaled so the largest count reaches the top."""
    peak = max((max(hour.sent, hour.failures) for hour in hours), default=0)
    plot_height = height - TOP - BOTTOM
    baseline = TOP + plot_height
    scale = LogScale(peak, plot_height)
    slot_width = (width - LEFT - RIGHT) / max(len(hours), 1)
    slots = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot_width
        slots.append(
            Slot(
                label=hour.start.strftime("%H:00"),
                # Label the last hour, and every third one counting back from it.
                show_label=(len(hours) - 1 - index) % LABEL_EVERY == 0,
                label_x=round(x + slot_width / 2, 2),
                sent=_bar(x + slot_width * 0.1, slot_width * 0.4, hour.sent, scale, baseline),
                failures=_bar(
                    x + slot_width * 0.5, slot_width * 0.4, hour.failures, scale, baseline
                ),
                retried=hour.retried,
                failed=hour.failed,
            )
        )
    return HourlyChart(
        width, height, slots, _ticks(peak, scale, baseline), peak, baseline, LEFT, TOP
    )


def _bar(x: float, width: float, count: int, scale: LogScale, baseline: float) -> Bar:
    bar_height = scale.height(count)
    return Bar(
        round(x, 2), round(baseline - bar_height, 2), round(width, 2), round(bar_height, 2), count
    )


def _ticks(peak: int, scale: LogScale, baseline: float) -> list[Tick]:
    """0, the powers of ten below the peak, and the peak itself, each where its bar
    would end; a power too close to the peak's label is left out."""
    ticks = [Tick(baseline, "0")]
    if not peak:
        return ticks
    top = Tick(round(baseline - scale.height(peak), 2), str(peak))
    power = 1
    while power < peak:
        y = round(baseline - scale.height(power), 2)
        if y - top.y >= MIN_TICK_GAP and ticks[-1].y - y >= MIN_TICK_GAP:
            ticks.append(Tick(y, short(power)))
        power *= 10
    return [*ticks, top]
