"""The windows of an incremental regroup, without a database: after any changes to
captures whose sessions the rules drew, drawing only the windows (and stopping where they
say) and keeping every other capture in its session gives what drawing everything gives.

Thousands of examples in a few seconds; tests/test_incremental_regroup.py puts the whole
engine through fewer, on the databases.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings

from monitoring.grouping import draw_sessions
from monitoring.grouping.plan import Span, windows_to_redraw
from monitoring.grouping.rules import (
    MICROSECONDS,
    from_epoch_microseconds,
    to_epoch_microseconds,
)
from tests.factories import START
from tests.histories import histories, offset_of
from tests.reference import MICROSECOND, examples, reference_sessions


def drawn_by_rules(captures: list[list], gap: int) -> None:
    """Put each dated capture ([timestamp, session]) in the session the rules draw, ids
    from 1, as a regroup leaves them."""
    for session, members in enumerate(reference_sessions(datetimes(captures), gap), start=1):
        for index in members:
            captures[index][1] = session


def datetimes(captures: list[list]) -> list[datetime | None]:
    return [None if c[0] is None else from_epoch_microseconds(c[0]) for c in captures]


def change(captures: list[list], spans: dict[int, Span], gap: int, what: tuple) -> None:
    dated = sorted((c for c in captures if c[0] is not None), key=lambda c: c[0])
    grouped = [c for c in dated if c[1] is not None]
    if what[0] == "add":
        _, near_session_start, index, offset, _ = what
        anchors = [span.first for span in spans.values()] if near_session_start else []
        anchors = sorted(anchors or [c[0] for c in dated] or [to_epoch_microseconds(START)])
        moment = anchors[index % len(anchors)] + offset_of(offset, gap) // MICROSECOND
        captures.append([moment, None])
    elif what[0] == "orphan" and grouped:
        _, index, count = what
        for capture in grouped[index % len(grouped) :][:count]:
            capture[1] = None
    elif what[0] == "undate" and grouped:
        grouped[what[1] % len(grouped)][0] = None
    elif what[0] == "add undated":
        captures.append([None, None])


def partition(sessions: list[object]) -> list[set[int]]:
    """Capture indexes by session, in a comparable order."""
    grouped: dict[object, set[int]] = {}
    for index, session in enumerate(sessions):
        if session is not None:
            grouped.setdefault(session, set()).add(index)
    return sorted(grouped.values(), key=min)


def ungrouped_runs(captures: list[list], gap: int) -> list[Span]:
    """Runs of dated captures without a session, cut at gaps, written plainly."""
    moments = sorted(c[0] for c in captures if c[0] is not None and c[1] is None)
    runs: list[Span] = []
    for moment in moments:
        if runs and moment - runs[-1].last < gap * MICROSECONDS:
            runs[-1] = Span(runs[-1].first, moment)
        else:
            runs.append(Span(moment, moment))
    return runs


@settings(max_examples=examples(3000), deadline=None)
@given(histories())
def test_redrawing_the_windows_gives_what_redrawing_everything_gives(history):
    gap, timestamps, (history_changes,) = history
    captures = [[None if t is None else to_epoch_microseconds(t), None] for t in timestamps]
    drawn_by_rules(captures, gap)
    # What the sessions' stored start and end say: as drawn, whatever happens next.
    spans: dict[int, Span] = {}
    for moment, session in captures:
        if session is not None:
            first, last = spans.get(session, (moment, moment))
            spans[session] = Span(min(first, moment), max(last, moment))
    for what in history_changes:
        change(captures, spans, gap, what)

    undated_in = {session for moment, session in captures if moment is None and session}
    windows = windows_to_redraw(
        spans.values(),
        ungrouped_runs(captures, gap) + [spans[session] for session in undated_in],
        gap,
    )

    after: list[object] = [session if moment is not None else None for moment, session in captures]
    read = 0
    for window in windows:
        first, last = (to_epoch_microseconds(window.first), to_epoch_microseconds(window.last))
        rows = sorted(
            (
                (moment, session, index)
                for index, (moment, session) in enumerate(captures)
                if moment is not None and first <= moment <= last
            ),
            key=lambda row: (row[0], row[2]),
        )
        drawing = draw_sessions(((m, s) for m, s, _ in rows), gap, window.stop_before(spans))
        read += sum(session.captures for session in drawing.sessions)
        for number, session in enumerate(drawing.sessions):
            for moment, _, index in rows:
                if session.first <= moment <= session.last:
                    after[index] = (window, number)

    assert partition(after) == sorted(reference_sessions(datetimes(captures), gap), key=min)
    # Windows never overlap, so no capture is read twice.
    assert read <= sum(moment is not None for moment, _ in captures)
