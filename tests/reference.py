"""The grouping rules written as plainly as possible, and the captures the property tests
feed both them and the engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import accumulate

from hypothesis import strategies as st

DAY = timedelta(hours=24)
MICROSECOND = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)


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


def edge_steps(gap_seconds: int) -> st.SearchStrategy[timedelta]:
    """Steps between consecutive captures at the rules' edges: duplicates (0), a
    microsecond, just under, at and just over the gap, and hourly streams that run past
    24 hours."""
    gap = timedelta(seconds=gap_seconds)
    return st.sampled_from(
        [
            timedelta(0),
            timedelta(0),
            MICROSECOND,
            SECOND,
            60 * SECOND,
            600 * SECOND,
            3600 * SECOND,
            gap - MICROSECOND,
            gap,
            gap + SECOND,
            DAY,
        ]
    )


@st.composite
def capture_timestamps(
    draw: st.DrawFn,
    start: datetime,
    gap_seconds: int,
    steps: st.SearchStrategy[timedelta] | None = None,
    max_size: int = 60,
) -> list[datetime | None]:
    """Timestamps `steps` apart after `start`, some of them missing, in random order."""
    gaps = draw(st.lists(steps or edge_steps(gap_seconds), min_size=1, max_size=max_size))
    timestamps: list[datetime | None] = list(accumulate(gaps, initial=start))[1:]
    missing = draw(st.lists(st.booleans(), max_size=max_size))
    for index, is_missing in enumerate(missing[: len(timestamps)]):
        if is_missing:
            timestamps[index] = None
    draw(st.randoms(use_true_random=False)).shuffle(timestamps)
    return timestamps
