"""The health chart's geometry: two bars an hour on a labelled logarithmic scale."""

from __future__ import annotations

import datetime as dt
import math

from django_brockman.counters import HourCount
from django_brockman.health_chart import HEIGHT, TOP, hourly_chart, short

START = dt.datetime(2026, 3, 4, 0, tzinfo=dt.timezone.utc)


def hours(*sent: int, failures: tuple[int, ...] = ()) -> list[HourCount]:
    failed = failures or (0,) * len(sent)
    return [
        HourCount(START + dt.timedelta(hours=n), sent=count, retried=failed[n])
        for n, count in enumerate(sent)
    ]


def test_chart_busiest_hour_fills_the_plot_on_a_log_scale() -> None:
    chart = hourly_chart(hours(99, 9, 0))

    assert chart.peak == 99
    tallest, tenth, empty = (slot.sent for slot in chart.slots)
    assert tallest.y == TOP
    assert tallest.y + tallest.height == chart.baseline
    # log10(1 + 9) is half of log10(1 + 99): half the height, not a tenth.
    assert math.isclose(tenth.height, tallest.height / 2, abs_tol=0.01)
    assert empty.height == 0


def test_chart_burst_of_30_times_leaves_the_usual_hours_readable() -> None:
    usual = 1000
    chart = hourly_chart(hours(*[usual] * 23, 30 * usual))

    burst = chart.slots[-1].sent
    normal = chart.slots[0].sent
    # On a linear axis the usual hours would be 1/30 of the plot (5 pixels); here they
    # are two thirds of the burst's height.
    assert normal.height > 0.65 * burst.height
    assert [tick.label for tick in chart.ticks] == ["0", "10", "100", "1k", "10k", "30000"]
    assert chart.ticks[-1].y == TOP


def test_chart_draws_failures_beside_sends_on_the_same_scale() -> None:
    chart = hourly_chart(hours(0, 50, failures=(999, 0)))

    outage, recovered = chart.slots
    assert outage.failures.count == 999
    assert outage.failures.y == TOP
    assert outage.sent.height == 0
    assert recovered.failures.height == 0
    assert outage.sent.x < outage.failures.x < recovered.sent.x


def test_chart_with_nothing_draws_flat_bars_and_a_zero_axis() -> None:
    chart = hourly_chart(hours(*[0] * 24))

    assert chart.peak == 0
    assert {slot.sent.height for slot in chart.slots} == {0}
    assert chart.baseline == HEIGHT - 24
    assert [tick.label for tick in chart.ticks] == ["0"]


def test_chart_bars_are_in_order_inside_the_width_and_labelled_every_third_hour() -> None:
    chart = hourly_chart(hours(*range(24)))

    xs = [slot.sent.x for slot in chart.slots]
    assert xs == sorted(xs)
    assert xs[0] >= chart.left
    assert chart.slots[-1].failures.x + chart.slots[-1].failures.width <= chart.right
    labelled = [slot.label for slot in chart.slots if slot.show_label]
    assert labelled == [f"{hour:02d}:00" for hour in range(2, 24, 3)]


def test_short_labels_powers_of_ten() -> None:
    assert [short(n) for n in (1, 10, 1000, 100_000, 1_000_000, 1500)] == [
        "1", "10", "1k", "100k", "1M", "1500",
    ]  # fmt: skip
