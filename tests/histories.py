"""Histories for the incremental regroup's property tests: captures grouped by the rules,
then changed the ways a deployment changes between regroups.

A change is a tuple, applied by each test to its own model of the captures:
- ("add", near_session_start, index, offset, detection): a new capture without a session,
  `offset` from a capture (or a session's start) picked by `index`; `detection` is None,
  "new" (a detection of a new occurrence) or "joins" (a detection of an occurrence that
  is already there);
- ("orphan", index, count): captures in a session that lose it, as in a bad sync;
- ("undate", index): a capture in a session that loses its timestamp but not its session
  (one that lost both would leave no trace, like a deleted capture: an incremental regroup
  trusts that none did);
- ("add undated", detection): a new capture without a timestamp.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import strategies as st

from tests.factories import START
from tests.reference import ANY_STEPS, DAY, EDGE_STEPS, MICROSECOND, capture_timestamps

# Where a new capture goes, from a capture or a session's start already there: the rules'
# edges (a duplicate, a microsecond, 24 hours) either side, and some plain steps.
OFFSETS = [
    timedelta(0),
    MICROSECOND,
    -MICROSECOND,
    timedelta(minutes=10),
    -timedelta(minutes=10),
    timedelta(hours=1),
    DAY,
    DAY + MICROSECOND,
    DAY - MICROSECOND,
    -DAY,
]
# The same in session gaps: at, just under and just over one gap, either side.
GAP_OFFSETS = [(1, timedelta(0)), (1, -MICROSECOND), (1, MICROSECOND), (-1, timedelta(0))]

detections = st.sampled_from([None, "new", "joins"])
changes = st.one_of(
    st.tuples(
        st.just("add"),
        st.booleans(),
        st.integers(min_value=0),
        st.one_of(st.sampled_from(OFFSETS), st.sampled_from(GAP_OFFSETS)),
        detections,
    ),
    st.tuples(st.just("orphan"), st.integers(min_value=0), st.integers(1, 5)),
    st.tuples(st.just("undate"), st.integers(min_value=0)),
    st.tuples(st.just("add undated"), detections),
)


@st.composite
def histories(draw: st.DrawFn, max_captures: int = 40, max_rounds: int = 1):
    """A gap, the timestamps of the captures first grouped, and rounds of changes (a regroup
    follows each round)."""
    gap = draw(st.sampled_from([60, 3600, 7200, 86_400, 100_000]))
    steps = draw(st.sampled_from([EDGE_STEPS, ANY_STEPS]))
    timestamps = draw(capture_timestamps(START, gap, steps, max_captures))
    rounds = draw(
        st.lists(st.lists(changes, min_size=1, max_size=6), min_size=1, max_size=max_rounds)
    )
    return gap, timestamps, rounds


def offset_of(offset: timedelta | tuple[int, timedelta], gap_seconds: int) -> timedelta:
    if isinstance(offset, tuple):
        gaps, more = offset
        return timedelta(seconds=gap_seconds * gaps) + more
    return offset
