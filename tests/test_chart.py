"""The health chart's geometry: one bar per hour, scaled to the busiest hour."""

from __future__ import annotations

import datetime as dt

from django_brockman.chart import HEIGHT, TOP, bar_chart
from django_brockman.stats import HourCount

START = dt.datetime(2026, 3, 4, 0, tzinfo=dt.timezone.utc)


def hours(*counts: int) -> list[HourCount]:
    return [HourCount(START + dt.timedelta(hours=n), count) for n, count in enumerate(counts)]


def test_bar_chart_busiest_hour_fills_the_plot_and_others_scale() -> None:
    chart = bar_chart(hours(10, 5, 0))

    assert chart.peak == 10
    tallest, half, empty = chart.bars
    assert tallest.y == TOP
    assert tallest.y + tallest.height == chart.baseline
    assert half.height == tallest.height / 2
    assert half.y + half.height == chart.baseline
    assert empty.height == 0


def test_bar_chart_with_no_sends_draws_flat_bars() -> None:
    chart = bar_chart(hours(*[0] * 24))

    assert chart.peak == 0
    assert {bar.height for bar in chart.bars} == {0}
    assert chart.baseline == HEIGHT - 24


def test_bar_chart_bars_are_in_order_and_inside_the_width() -> None:
    chart = bar_chart(hours(*range(24)))

    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)
    assert xs[0] >= chart.left
    assert chart.bars[-1].x + chart.bars[-1].width <= chart.right < chart.width


def test_bar_chart_labels_the_last_hour_and_every_third_before_it() -> None:
    chart = bar_chart(hours(*[1] * 24))

    labelled = [bar.label for bar in chart.bars if bar.show_label]
    assert labelled == ["02:00", "05:00", "08:00", "11:00", "14:00", "17:00", "20:00", "23:00"]
