"""The grouping rules written as plainly as possible, and the captures the property tests
feed both them and the engine."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from hypothesis import strategies as st

DAY = timedelta(hours=24)
MICROSECOND = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)


def examples(thorough: int) -> int:
    """How many Hypothesis examples a property gets: all of them in `make test` (and CI), a
    tenth in the quick loop, which sets QUICK_PROPERTIES (`make test-fast`)."""
    return max(20, thorough // 10) if os.environ.get("QUICK_PROPERTIES") else thorough


def reference_sessions(timestamps: list[datetime | None], gap_seconds: int) -> list[set[int]]:
    """Capture indexes grouped per session, in time order."""
    by_time: dict[datetime, set[int]] = {}
    for index, timestamp in enumerate(timestamps):
        if timestamp is not None:
            by_time.setdefault(timestamp, set()).add(index)
    sessions: list[set[int]] = []
    session_start = previous = None
    for timestamp in sorted(by_time):
        if (
            previous is None
            or (timestamp - previous).total_seconds() >= gap_seconds
            or timestamp - session_start > DAY
        ):
            sessions.append(set())
            session_start = timestamp
        sessions[-1] |= by_time[timestamp]
        previous = timestamp
    return sessions


# A step to the next capture: (this many session gaps, and this much more), or None for a
# capture without a timestamp. The rules' edges: duplicates (0), a microsecond, just under,
# at and just over the gap, and hourly streams that run past 24 hours.
EDGE_STEPS = st.sampled_from(
    [
        None,
        None,
        (0, timedelta(0)),
        (0, timedelta(0)),
        (0, MICROSECOND),
        (0, SECOND),
        (0, 60 * SECOND),
        (0, 600 * SECOND),
        (0, 3600 * SECOND),
        (1, -MICROSECOND),
        (1, timedelta(0)),
        (1, SECOND),
        (0, DAY),
    ]
)
# The edges, or any step up to two gaps.
ANY_STEPS = st.one_of(EDGE_STEPS, st.integers(0, 2**20).map(lambda n: (n / 2**19, timedelta(0))))


@st.composite
def capture_timestamps(
    draw: st.DrawFn,
    start: datetime,
    gap_seconds: int,
    steps: st.SearchStrategy[tuple[float, timedelta] | None] = EDGE_STEPS,
    max_size: int = 60,
) -> list[datetime | None]:
    """Timestamps `steps` apart after `start`, some of them missing, in random order."""
    gap = timedelta(seconds=gap_seconds)
    timestamps: list[datetime | None] = []
    moment = start
    for step in draw(st.lists(steps, min_size=1, max_size=max_size)):
        if step is None:
            timestamps.append(None)
        else:
            gaps, more = step
            moment += gap * gaps + more
            timestamps.append(moment)
    # A seeded shuffle: a shrinkable one would cost a draw per capture.
    draw(st.randoms(use_true_random=True)).shuffle(timestamps)
    return timestamps
