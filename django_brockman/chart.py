"""The geometry of the health page's bar chart, computed on the server for an inline SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django_brockman.stats import HourCount

WIDTH = 720
HEIGHT = 220
LEFT = 48  # room for the y-axis figures
BOTTOM = 24  # room for the hour labels
TOP = 12
RIGHT = 24  # room for half of the last hour's label
LABEL_EVERY = 3  # hours between x-axis labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str  # "13:00", the hour's start in UTC
    show_label: bool

    @property
    def label_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    peak: int  # the y-axis maximum
    baseline: float  # y of the x axis
    left: int
    top: int

    @property
    def right(self) -> int:
        """The x where the plot ends."""
        return self.width - RIGHT


def bar_chart(hours: Sequence[HourCount], width: int = WIDTH, height: int = HEIGHT) -> BarChart:
    """Lay out one bar per hour, scaled so the busiest hour fills the plot."""
    peak = max((hour.count for hour in hours), default=0)
    plot_height = height - TOP - BOTTOM
    slot = (width - LEFT - RIGHT) / max(len(hours), 1)
    bars = []
    for index, hour in enumerate(hours):
        bar_height = plot_height * hour.count / peak if peak else 0.0
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * 0.1, 2),
                y=round(TOP + plot_height - bar_height, 2),
                width=round(slot * 0.8, 2),
                height=round(bar_height, 2),
                count=hour.count,
                label=hour.start.strftime("%H:00"),
                # Label the last hour, and every third one counting back from it.
                show_label=(len(hours) - 1 - index) % LABEL_EVERY == 0,
            )
        )
    return BarChart(width, height, bars, peak, TOP + plot_height, LEFT, TOP)
