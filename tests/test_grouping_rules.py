"""The pure parts of the regroup engine, against the reference rules, without a database.

Thousands of examples in a few seconds: the rules (drawing sessions from sorted
timestamps), the premise of redrawing windows (the rules restart at every gap), and the
plan (matching drawn sessions to existing ones, what to write) written in memory the way
the engine writes it to the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.grouping import DrawnSession, draw_sessions, session_gap
from monitoring.grouping.apply import chunks
from monitoring.grouping.plan import Plan
from monitoring.grouping.rules import EPOCH, MICROSECONDS
from tests.reference import (
    ANY_STEPS,
    DAY,
    MICROSECOND,
    capture_timestamps,
    examples,
    reference_sessions,
)

# Gaps at the rules' edges: tiny, the default, a day, and longer than a day (only the
# 24-hour cut then ends a session without a gap).
gaps = st.one_of(
    st.sampled_from([1, 60, 3600, 7200, 86_400, 100_000]),
    st.integers(min_value=1, max_value=200_000),
)
starts = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def timestamps_and_gap(draw: st.DrawFn, max_size: int = 60) -> tuple[list[datetime | None], int]:
    gap = draw(gaps)
    return draw(capture_timestamps(draw(starts), gap, ANY_STEPS, max_size)), gap


def micros(timestamp: datetime) -> int:
    return (timestamp - EPOCH) // MICROSECOND


Row = tuple[int, int | None]


def rows(timestamps: list[datetime | None], sessions: list[int | None]) -> list[Row]:
    """(timestamp, session) of the dated captures in time order, as the engine reads them."""
    pairs = zip(timestamps, sessions, strict=True)
    return sorted(((micros(t), s) for t, s in pairs if t is not None), key=lambda row: row[0])


def by_capture(timestamps: list[datetime | None]) -> list[Row]:
    """Rows with each capture's index as its session, so a drawn session's shares are its
    captures."""
    return rows(timestamps, list(range(len(timestamps))))


@settings(max_examples=examples(2000), deadline=None)
@given(timestamps_and_gap())
def test_drawing_matches_the_reference(case):
    timestamps, gap = case
    drawing = draw_sessions(by_capture(timestamps), gap)

    assert [set(session.shares) for session in drawing.sessions] == reference_sessions(
        timestamps, gap
    )
    for session in drawing.sessions:
        members = [timestamps[index] for index in session.shares]
        assert session.captures == len(members)
        assert session.start == min(members)
        assert session.end == max(members)
        assert session.group_by == min(members).isoformat()
    dated = [t for t in timestamps if t is not None]
    assert drawing.duplicate_timestamps == sum(dated.count(t) > 1 for t in set(dated))


@settings(max_examples=examples(300), deadline=None)
@given(
    start=starts,
    gap=st.sampled_from([7200, 100_000]),
    period=st.sampled_from([timedelta(minutes=10), timedelta(hours=1), timedelta(hours=2)]),
    count=st.integers(min_value=1, max_value=200),
    around_a_day=st.sets(st.sampled_from([DAY - MICROSECOND, DAY, DAY + MICROSECOND])),
)
def test_continuous_streams_are_cut_24_hours_after_each_session_starts(
    start, gap, period, count, around_a_day
):
    period = min(period, timedelta(seconds=gap) - MICROSECOND)
    timestamps = [start + period * shot for shot in range(count)]
    timestamps += [start + offset for offset in around_a_day]
    drawing = draw_sessions(by_capture(timestamps), gap)

    assert [set(session.shares) for session in drawing.sessions] == reference_sessions(
        timestamps, gap
    )
    assert all(session.end - session.start <= DAY for session in drawing.sessions)


@settings(max_examples=examples(500), deadline=None)
@given(timestamps_and_gap())
def test_the_rules_restart_at_every_gap_so_windows_between_gaps_draw_alone(case):
    """Drawing the rows on either side of any gap of at least the session gap, each alone,
    gives what drawing them all does: a window's ends can be such gaps."""
    timestamps, gap = case
    ordered = by_capture(timestamps)
    whole = draw_sessions(ordered, gap)
    for cut in range(1, len(ordered)):
        if ordered[cut][0] - ordered[cut - 1][0] >= gap * MICROSECONDS:
            before, after = draw_sessions(ordered[:cut], gap), draw_sessions(ordered[cut:], gap)
            assert before.sessions + after.sessions == whole.sessions
            assert (
                before.duplicate_timestamps + after.duplicate_timestamps
                == whole.duplicate_timestamps
            )


@st.composite
def deployments(draw: st.DrawFn):
    """Captures, the session each is in now (None: none), and today's sessions' names.

    Names are as regroups leave them (a capture's timestamp, perhaps one that another
    session is about to want) or as old imports did; each is unique in its deployment.
    """
    timestamps, gap = draw(timestamps_and_gap(max_size=40))
    ids = range(1, draw(st.integers(min_value=0, max_value=5)) + 1)
    # Seeded, like the shuffle: a draw per capture would cost most of an example's time.
    pick = draw(st.randoms(use_true_random=True)).choice
    sessions = [pick([None, *ids]) for _ in timestamps]
    dated_names = [t.isoformat() for t in timestamps if t is not None]
    names: dict[int, str] = {}
    for event_id in ids:
        name = draw(st.sampled_from([f"old-{event_id}", *dated_names]))
        names[event_id] = name if name not in names.values() else f"old-{event_id}"
    chunk_size = draw(st.integers(min_value=1, max_value=30))
    return timestamps, gap, sessions, names, chunk_size


def write_in_memory(
    plan: Plan,
    timestamps: list[datetime | None],
    sessions: list[int | None],
    names: dict[int, str],
    chunk_size: int,
) -> None:
    """Write `plan` to `sessions` and `names` in the engine's order, checking at every step
    that no two sessions share a name (the database's constraint)."""

    def check_names() -> None:
        assert len(set(names.values())) == len(names)

    for event_id in plan.names_to_free:
        names[event_id] = f"regrouping-{event_id}"
    check_names()
    for index, timestamp in enumerate(timestamps):
        if timestamp is None:
            sessions[index] = None
    next_id = max(names, default=0) + 1
    for chunk in chunks(plan.pending, chunk_size):
        for drawn in chunk:
            if drawn.event_id is None:
                drawn.event_id, next_id = next_id, next_id + 1
                names[drawn.event_id] = drawn.group_by
                check_names()
        for drawn in chunk:
            for index, timestamp in enumerate(timestamps):
                if timestamp is not None and drawn.first <= micros(timestamp) <= drawn.last:
                    sessions[index] = drawn.event_id
            names[drawn.event_id] = drawn.group_by
            check_names()
    for event_id in set(names) - set(sessions):
        del names[event_id]


def members(sessions: list[int | None]) -> dict[int, set[int]]:
    grouped: dict[int, set[int]] = {}
    for index, event_id in enumerate(sessions):
        if event_id is not None:
            grouped.setdefault(event_id, set()).add(index)
    return grouped


@settings(max_examples=examples(1000), deadline=None)
@given(deployments())
def test_a_written_plan_gives_the_reference_keeps_ids_and_writes_only_changes(deployment):
    timestamps, gap, before, names, chunk_size = deployment
    expected = reference_sessions(timestamps, gap)
    # A session the rules draw and an existing session that share more captures with each
    # other than either does with any other keep each other: most of a night staying
    # together keeps its id.
    shared = {
        (drawn, event_id): len(expected[drawn] & held)
        for drawn in range(len(expected))
        for event_id, held in members(before).items()
    }
    keepers = {
        event_id: expected[drawn]
        for (drawn, event_id), count in shared.items()
        if count
        and all(
            count > other
            for (rival, rival_id), other in shared.items()
            if (rival == drawn) != (rival_id == event_id)
        )
    }

    plan = Plan(draw_sessions(rows(timestamps, before), gap).sessions, dict(names))
    after = list(before)
    write_in_memory(plan, timestamps, after, names, chunk_size)

    grouped = members(after)
    assert sorted(grouped.values(), key=min) == sorted(expected, key=min)
    for event_id, held in grouped.items():
        assert names[event_id] == min(timestamps[index] for index in held).isoformat()
    for event_id, drawn in keepers.items():
        assert grouped[event_id] == drawn
    dated = [index for index, timestamp in enumerate(timestamps) if timestamp is not None]
    assert plan.captures_to_group == sum(after[index] != before[index] for index in dated)

    again = Plan(draw_sessions(rows(timestamps, after), gap).sessions, dict(names))
    assert again.pending == []
    assert again.names_to_free == []


@settings(max_examples=examples(200), deadline=None)
@given(
    to_write=st.lists(st.integers(min_value=0, max_value=20), max_size=30),
    size=st.integers(min_value=1, max_value=40),
)
def test_chunks_are_whole_sessions_cut_once_they_reach_the_size(to_write, size):
    sessions = [DrawnSession(first=n, last=n, captures=count) for n, count in enumerate(to_write)]
    cut = list(chunks(sessions, size))

    assert [session for chunk in cut for session in chunk] == sessions
    for chunk in cut[:-1]:
        assert sum(session.captures_to_write for session in chunk) >= size
        assert sum(session.captures_to_write for session in chunk[:-1]) < size


@pytest.mark.parametrize(
    ("project_gap", "override", "expected", "warns"),
    [
        (3600, None, 3600, False),
        (3600, 60, 60, False),
        (None, 60, 60, False),
        (None, None, 7200, True),
        (0, None, 7200, True),
        (3600, -5, 7200, True),
    ],
)
def test_an_unusable_gap_falls_back_to_the_default_with_a_warning(
    project_gap, override, expected, warns
):
    gap, warning = session_gap(project_gap, override)
    assert gap == expected
    assert (warning is not None) == warns
