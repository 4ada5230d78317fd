"""The per-night strip's stored bars: nights kept whole, long deployments bucketed."""

from __future__ import annotations

import pytest

from monitoring.capture_nights import MAX_BARS, strip_layout
from monitoring.grouping import regroup_deployment
from tests.test_grouping import add_captures, nights

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
