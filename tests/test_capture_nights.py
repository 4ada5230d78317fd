"""The per-night strip's stored bars: nights kept whole, long deployments bucketed."""

from __future__ import annotations

import pytest

from monitoring.capture_nights import MAX_BARS, MIN_BAR, NightBar, night_strip, strip_layout
from monitoring.grouping import regroup_deployment
from tests.factories import add_captures, nights

pytestmark = pytest.mark.django_db


def test_a_night_that_crosses_midnight_is_one_bar_and_ungrouped_nights_show(deployment):
    add_captures(deployment, nights(0, 2, per_night=30))  # 21:00 to 01:50: past midnight
    regroup_deployment(deployment)
    add_captures(deployment, nights(3, 1, per_night=30))
    deployment.update_calculated_fields()

    bars = deployment.capture_nights

    assert [(bar["first"], bar["grouped"], bar["ungrouped"]) for bar in bars] == [
        ("2024-06-01", 30, 0),
        ("2024-06-02", 30, 0),
        ("2024-06-03", 0, 0),  # the trap was off: the gap shows
        ("2024-06-04", 0, 30),
    ]
    layout = strip_layout(bars)
    assert layout[3]["ungrouped_height"] == 100 and layout[3]["grouped_height"] == 0
    assert layout[3]["label"] == "4 Jun 2024: 0 grouped, 30 not grouped"


def test_a_long_deployment_is_cut_into_at_most_max_bars(deployment):
    add_captures(deployment, nights(0, 400, per_night=2))
    deployment.update_calculated_fields()

    bars = deployment.capture_nights

    assert len(bars) <= MAX_BARS
    assert sum(bar["ungrouped"] for bar in bars) == 800
    assert bars[0]["first"] == "2024-06-01" and bars[-1]["last"] == "2025-07-05"


def bar(first: str, grouped: int, ungrouped: int, last: str | None = None) -> NightBar:
    return NightBar(first=first, last=last or first, grouped=grouped, ungrouped=ungrouped)


def test_a_single_ungrouped_capture_beside_busy_nights_still_has_a_visible_bar():
    layout = strip_layout([bar("2024-06-01", 4_800, 0), bar("2024-06-02", 479, 1)])

    assert layout[1]["ungrouped_height"] == MIN_BAR
    # Stacked on the grouped part, inside the box.
    assert layout[1]["ungrouped_y"] == round(100 - layout[1]["grouped_height"] - MIN_BAR, 2)
    assert layout[1]["ungrouped_y"] >= 0
    # The busiest night still fills the box; an empty one has no bar at all.
    assert layout[0]["grouped_height"] == 100 and layout[0]["ungrouped_height"] == 0


def test_a_full_bar_with_a_few_ungrouped_captures_stays_inside_the_box():
    (layout,) = strip_layout([bar("2024-06-01", 9_999, 1)])

    assert layout["ungrouped_height"] == MIN_BAR
    assert layout["grouped_height"] + layout["ungrouped_height"] == 100
    assert layout["ungrouped_y"] == 0


def test_the_axis_marks_month_starts_with_the_year_on_the_first_and_on_january():
    bars = [bar(f"2024-{month:02d}-{day:02d}", 10, 0) for month in (11, 12) for day in (1, 15)]
    bars += [bar("2025-01-01", 10, 0), bar("2025-01-15", 0, 3)]

    strip = night_strip(bars)

    assert [tick["label"] for tick in strip.ticks] == ["Nov 2024", "Dec", "Jan 2025"]
    assert [tick["position"] for tick in strip.ticks] == [8.33, 41.67, 75.0]
    assert [tick["align"] for tick in strip.ticks] == ["start", "center", "center"]


def test_a_strip_within_a_month_is_labelled_by_its_first_and_last_night():
    strip = night_strip(
        [bar("2024-06-03", 10, 0), bar("2024-06-04", 0, 0), bar("2024-06-05", 1, 2)]
    )

    assert [(tick["label"], tick["position"], tick["align"]) for tick in strip.ticks] == [
        ("3 Jun 2024", 0, "start"),
        ("5 Jun 2024", 100, "end"),
    ]


def test_many_month_starts_are_thinned_to_a_few():
    bars = [bar(f"{2020 + n // 12}-{n % 12 + 1:02d}-01", 1, 0) for n in range(36)]

    assert len(night_strip(bars).ticks) <= 5


def test_the_table_lists_the_nights_with_ungrouped_captures_and_their_numbers():
    strip = night_strip(
        [bar("2024-06-01", 1_200, 0), bar("2024-06-02", 1_000, 1_234), bar("2024-06-03", 0, 1)]
    )

    assert [(row["nights"], row["captures"], row["ungrouped"]) for row in strip.ungrouped_bars] == [
        ("2 Jun 2024", 2_234, 1_234),
        ("3 Jun 2024", 1, 1),
    ]
    assert [(row["captures_text"], row["ungrouped_text"]) for row in strip.ungrouped_bars] == [
        ("2,234", "1,234"),
        ("1", "1"),
    ]
    assert strip.nights_per_bar == 1


def test_a_bucketed_strip_says_how_many_nights_a_row_covers():
    strip = night_strip(
        [bar("2024-06-01", 1, 0, last="2024-06-05"), bar("2024-06-06", 0, 4, last="2024-06-10")]
    )

    assert strip.nights_per_bar == 5
    assert strip.ungrouped_bars[0]["nights"] == "6 Jun 2024 – 10 Jun 2024"
