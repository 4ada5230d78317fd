"""What a regroup will write: the sessions the rules draw over the timestamps it reads,
matched to the sessions that exist today.

A full regroup reads every dated capture. An incremental one trusts that today's sessions
are what the rules drew under the deployment's recorded settings, except where something
changed since: captures without a session, and sessions holding captures without a
timestamp. It reads only the windows around those (`windows_to_redraw`), each from where
the rules restart to where the redrawn sessions meet today's again.

A session keeps its id when its captures stay together (new sessions are matched to
existing ones by the captures they share), so links to sessions survive a regroup, and
only captures whose session changes are written. Matching, the windows and deciding what
to write are pure; `read_plan` and `read_changed_plan` read the database.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Q, QuerySet

from ..models import Deployment, Event, SourceImage
from .rules import (
    MAX_SESSION_LENGTH,
    MICROSECONDS,
    DrawnSession,
    StopBefore,
    draw_sessions,
    from_epoch_microseconds,
    to_epoch_microseconds,
)
from .sql import EpochMicroseconds, gap_runs, regroup_transaction, stream_rows


@dataclass(frozen=True)
class Window:
    """Capture timestamps a regroup reads and redraws, both ends included (None: open).

    `first` must be where the rules start afresh, after a gap of at least the session gap
    (a 24-hour cut is not one: where it falls depends on what came before), so the window
    alone draws the sessions a drawing of everything would. So must `last`, unless
    `changed_until` is set: nothing after that moment has changed since today's sessions
    were drawn, so the read ends before the first capture after it that starts both a
    drawn session and, today, the session it is in. From there on the drawing is today's.
    """

    first: datetime | None = None
    last: datetime | None = None
    changed_until: datetime | None = None

    def stop_before(self, sessions: Mapping[int, Span]) -> StopBefore | None:
        """Where the window's drawing may end, given today's sessions that hold captures:
        before a capture after its last change that starts a session both in the drawing
        and today (draw_sessions asks only of captures that start one in the drawing)."""
        if self.changed_until is None:
            return None
        changed_until = to_epoch_microseconds(self.changed_until)

        def starts_its_session_today(timestamp: int, event_id: int | None) -> bool:
            span = sessions.get(event_id)
            return timestamp > changed_until and span is not None and span.first == timestamp

        return starts_its_session_today


# What a full regroup reads and redraws: every dated capture.
EVERYTHING = (Window(),)


class Span(NamedTuple):
    """First and last timestamp of something on the timeline, in microseconds."""

    first: int
    last: int


def windows_to_redraw(
    sessions: Iterable[Span], changes: Iterable[Span], gap_seconds: int
) -> list[Window]:
    """The windows an incremental regroup reads: around every change, none elsewhere.

    `sessions` are today's sessions that hold captures (drawn by the rules under this gap,
    so none spans a gap); `changes` are where something changed since: runs of captures
    without a session, and the sessions holding captures without a timestamp. Every dated
    capture lies in one of these spans, so where a span begins a gap or more after all
    earlier ones end, the rules restart: each window begins there. It ends at the next
    such place, or earlier where its redrawn sessions meet today's (`changed_until`).
    Windows with none of today's sessions between them are read as one.
    """
    gap = gap_seconds * MICROSECONDS
    sessions = list(sessions)
    spans = sorted([(*span, False) for span in sessions] + [(*span, True) for span in changes])
    # [first, last, changed_until]: stretches between places where the rules restart.
    stretches: list[list] = []
    for first, last, changed in spans:
        if stretches and first - stretches[-1][1] < gap:
            stretch = stretches[-1]
            stretch[1] = max(stretch[1], last)
        else:
            stretch = [first, last, None]
            stretches.append(stretch)
        if changed:
            stretch[2] = last if stretch[2] is None else max(stretch[2], last)
    starts = sorted(span.first for span in sessions)
    windows: list[list] = []
    for stretch in stretches:
        if stretch[2] is None:
            continue
        if windows:
            later = bisect_right(starts, windows[-1][2])
            if later == len(starts) or starts[later] >= stretch[0]:
                windows[-1][1:] = stretch[1:]
                continue
        windows.append(stretch)
    return [Window(*(from_epoch_microseconds(moment) for moment in window)) for window in windows]


def match_existing_sessions(sessions: list[DrawnSession], existing_ids: Iterable[int]) -> None:
    """Give each drawn session the existing session it shares the most captures with.

    Greedy by shared captures (ties: older session, earlier drawn session), one drawn
    session per existing one, so a night that stays together keeps its id.
    """
    existing = set(existing_ids)
    candidates = sorted(
        (-shared, event_id, index)
        for index, session in enumerate(sessions)
        for event_id, shared in session.shares.items()
        if event_id in existing
    )
    taken: set[int] = set()
    for _, event_id, index in candidates:
        session = sessions[index]
        if session.event_id is None and event_id not in taken:
            session.event_id = event_id
            taken.add(event_id)


@dataclass
class Plan:
    """Drawn sessions matched to today's sessions, and what must be written for them.

    Made from the drawn sessions and today's names; matching sets each drawn session's
    event_id to the existing session that keeps it (None: a new one).
    """

    sessions: list[DrawnSession]
    # Every session of the deployment today: id -> group_by.
    existing_names: dict[int, str]
    # Captures without a timestamp still in a session, to be taken out of it.
    undated_in_sessions: int = 0
    # How it was read, not what it draws (plans are compared by what they draw): whether
    # it redraws every dated capture or only windows around what changed, and then those
    # windows (every capture it can move is in one) and which of today's sessions are in
    # them, the only ones besides those it writes to that it can leave empty; and how
    # many captures were read.
    full: bool = field(default=True, compare=False)
    windows: Sequence[Window] = field(default=EVERYTHING, compare=False)
    in_windows: set[int] = field(default_factory=set, compare=False)
    captures_read: int = field(default=0, compare=False)
    # Drawn sessions whose captures or name must be written.
    pending: list[DrawnSession] = field(init=False)
    # Existing sessions to rename first: group_by is unique per deployment, and another
    # session is about to take theirs. They get their real name in their own chunk, or are
    # deleted at the end.
    names_to_free: list[int] = field(init=False)

    def __post_init__(self) -> None:
        match_existing_sessions(self.sessions, self.existing_names)
        self.pending = [
            session
            for session in self.sessions
            if session.captures_to_write
            or self.existing_names.get(session.event_id) != session.group_by
        ]
        wanted = {session.group_by: session.event_id for session in self.sessions}
        self.names_to_free = [
            event_id
            for event_id, group_by in self.existing_names.items()
            if group_by in wanted and wanted[group_by] != event_id
        ]

    @property
    def captures_to_group(self) -> int:
        return sum(session.captures_to_write for session in self.pending)

    @property
    def duplicate_timestamps(self) -> int:
        return sum(session.duplicates for session in self.sessions)


class _Today(NamedTuple):
    """The deployment's sessions today, by id: names, stored start and end, and those of
    the sessions that hold captures (where they are on the timeline)."""

    names: dict[int, str]
    extents: dict[int, Span]
    spans: dict[int, Span]


def read_plan(
    deployment: Deployment, gap_seconds: int, windows: Sequence[Window] = EVERYTHING
) -> Plan:
    """Draw the sessions of the deployment's captures in `windows` and plan their writes.

    Reads (timestamp, session) of the windows' dated captures in time order and keeps only
    the drawn sessions in memory.
    """
    today = _read_today(deployment)
    sessions = _read(SourceImage.objects.filter(deployment=deployment), gap_seconds, windows, today)
    return Plan(
        sessions,
        existing_names=today.names,
        undated_in_sessions=sessioned_undated_captures(deployment).count(),
        full=windows == EVERYTHING,
        windows=windows,
        captures_read=_captures(sessions),
    )


def read_changed_plan(deployment: Deployment, gap_seconds: int) -> Plan | None:
    """The plan of an incremental regroup: redraw the windows around what changed since
    the deployment's sessions were drawn under `gap_seconds`; None if nothing did.

    Finding out that nothing changed reads two indexes that are then empty, no capture.
    Otherwise the captures without a session are drawn first, alone (the database finds
    their runs): where none of today's sessions is in their window, that is their
    drawing, and only the other windows are read again, whole.
    """
    undated = set(
        sessioned_undated_captures(deployment).order_by().values_list("event_id", flat=True)
    )
    # The first in time rather than any: the database then looks in the index of captures
    # without a session even when its statistics still count the ones a regroup just
    # grouped (it would scan the table, expecting to meet one soon).
    first_ungrouped = ungrouped_captures(deployment).order_by("timestamp").values("pk")[:1]
    if not undated and not first_ungrouped:
        return None
    today = _read_today(deployment)
    captures = SourceImage.objects.filter(deployment=deployment)
    alone = _draw_ungrouped(captures.filter(event__isnull=True), gap_seconds, today)
    # A capture that lost its timestamp left a place in its session that may have held the
    # session together, so the whole session is redrawn. Its recorded start and end still
    # bound where that capture was.
    undated_spans = {event_id: today.extents[event_id] for event_id in undated}
    changes = _runs(alone, gap_seconds) + list(undated_spans.values())
    windows = windows_to_redraw(today.spans.values(), changes, gap_seconds)
    bounds = [Span(to_epoch_microseconds(w.first), to_epoch_microseconds(w.last)) for w in windows]
    in_windows = _place({**today.spans, **undated_spans}, bounds)
    crowded = set(in_windows.values())
    again = _read(captures, gap_seconds, [windows[i] for i in sorted(crowded)], today)
    kept = [session for session in alone if _place_one(session, bounds) not in crowded]
    return Plan(
        sorted(kept + again, key=lambda session: session.first),
        existing_names=today.names,
        undated_in_sessions=len(undated),
        full=False,
        windows=windows,
        in_windows=set(in_windows),
        captures_read=_captures(alone) + _captures(again),
    )


def sessioned_undated_captures(deployment: Deployment) -> QuerySet[SourceImage]:
    """Captures without a timestamp that are in a session: the rules give them none."""
    return SourceImage.objects.filter(
        deployment=deployment, timestamp__isnull=True, event__isnull=False
    )


def ungrouped_captures(deployment: Deployment) -> QuerySet[SourceImage]:
    """Captures with a timestamp and no session: what a regroup groups."""
    return SourceImage.objects.filter(
        deployment=deployment, event__isnull=True, timestamp__isnull=False
    )


def _read_today(deployment: Deployment) -> _Today:
    today = _Today({}, {}, {})
    rows = Event.objects.filter(deployment=deployment).values_list(
        "pk", "group_by", "start", "end", "captures_count"
    )
    for event_id, group_by, start, end, captures in rows:
        today.names[event_id] = group_by
        extent = Span(to_epoch_microseconds(start), to_epoch_microseconds(end))
        today.extents[event_id] = extent
        # A session left with occurrences and no captures keeps its old start and end:
        # it is nowhere on the timeline.
        if captures:
            today.spans[event_id] = extent
    return today


def _read(
    captures: QuerySet[SourceImage], gap_seconds: int, windows: Sequence[Window], today: _Today
) -> list[DrawnSession]:
    """The sessions the rules draw over these captures in each window, in time order."""
    sessions: list[DrawnSession] = []
    with regroup_transaction():
        for window in windows:
            with closing(stream_rows(_dated_rows(captures, window))) as rows:
                sessions += draw_sessions(
                    rows, gap_seconds, window.stop_before(today.spans)
                ).sessions
    return sessions


def _draw_ungrouped(
    captures: QuerySet[SourceImage], gap_seconds: int, today: _Today
) -> list[DrawnSession]:
    """The sessions the rules draw over these captures (none in a session) alone.

    The database finds their runs between gaps of at least the session gap, which is all
    the rules do to a run of 24 hours or less; only longer runs are read and drawn here.
    Reading every capture into Python took most of an incremental regroup's reading.
    """
    longest = MAX_SESSION_LENGTH // timedelta(microseconds=1)
    sessions: list[DrawnSession] = []
    long_runs: list[Window] = []
    with regroup_transaction():
        runs = gap_runs(captures.filter(timestamp__isnull=False), gap_seconds)
    for first, last, count, shared in runs:
        if last - first > longest:
            # Each run starts and ends where the rules restart: a window of its own.
            long_runs.append(Window(from_epoch_microseconds(first), from_epoch_microseconds(last)))
        else:
            sessions.append(DrawnSession(first, last, count, {None: count}, duplicates=shared))
    if long_runs:
        sessions += _read(captures, gap_seconds, long_runs, today)
        sessions.sort(key=lambda session: session.first)
    return sessions


def _captures(sessions: list[DrawnSession]) -> int:
    return sum(session.captures for session in sessions)


def _runs(sessions: list[DrawnSession], gap_seconds: int) -> list[Span]:
    """Sessions drawn in time order, joined where less than a gap apart."""
    gap = gap_seconds * MICROSECONDS
    runs: list[Span] = []
    for session in sessions:
        if runs and session.first - runs[-1].last < gap:
            runs[-1] = Span(runs[-1].first, session.last)
        else:
            runs.append(Span(session.first, session.last))
    return runs


def _place(spans: Mapping[int, Span], windows: list[Span]) -> dict[int, int]:
    """The window each span is in, by the span's key, for those in one; the windows are
    in time order and none shares a stretch of the timeline with another."""
    placed = {}
    for key, span in spans.items():
        index = _place_one(span, windows)
        if index is not None:
            placed[key] = index
    return placed


def _place_one(span: Span | DrawnSession, windows: list[Span]) -> int | None:
    index = bisect_right(windows, span.last, key=lambda window: window.first) - 1
    return index if index >= 0 and windows[index].last >= span.first else None


def in_windows(windows: Sequence[Window]) -> Q:
    """A filter of captures: those with a timestamp in one of the windows."""
    found = Q(pk__in=[])
    for window in windows:
        inside = Q(timestamp__isnull=False)
        if window.first is not None:
            inside &= Q(timestamp__gte=window.first)
        if window.last is not None:
            inside &= Q(timestamp__lte=window.last)
        found |= inside
    return found


def _dated_rows(captures: QuerySet[SourceImage], window: Window) -> QuerySet:
    """(timestamp in microseconds, session) of the window's dated captures, in
    (deployment, timestamp) index order, so the database needs no sort."""
    return (
        captures.filter(in_windows([window]))
        .annotate(moment=EpochMicroseconds("timestamp"))
        .values_list("moment", "event_id")
        .order_by("timestamp")
    )
