"""What a regroup will write: the sessions the rules draw over the timestamps it reads,
matched to the sessions that exist today.

A session keeps its id when its captures stay together (new sessions are matched to
existing ones by the captures they share), so links to sessions survive a regroup, and
only captures whose session changes are written. Matching and deciding what to write are
pure; `read_plan` is the only part that reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

from ..models import Deployment, Event, SourceImage
from .rules import DrawnSession, draw_sessions
from .sql import EpochMicroseconds, stream_rows


@dataclass(frozen=True)
class Window:
    """Capture timestamps a regroup reads and redraws, both ends included (None: open).

    Each end must be where the rules start afresh, next to a gap of at least the session
    gap (a 24-hour cut is not one: where it falls depends on what came before), so the
    window alone draws the sessions a drawing of everything would.
    """

    first: datetime | None = None
    last: datetime | None = None


# What a regroup reads and redraws today: every dated capture.
EVERYTHING = (Window(),)


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
    duplicate_timestamps: int = 0
    captures_without_timestamp: int = 0
    # Captures without a timestamp still in a session, to be taken out of it.
    undated_in_sessions: int = 0
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


def read_plan(
    deployment: Deployment, gap_seconds: int, windows: Sequence[Window] = EVERYTHING
) -> Plan:
    """Draw the sessions of the deployment's captures in `windows` and plan their writes.

    Reads (timestamp, session) of the windows' dated captures in time order and keeps only
    the drawn sessions in memory.
    """
    captures = SourceImage.objects.filter(deployment=deployment)
    sessions: list[DrawnSession] = []
    duplicates = 0
    with transaction.atomic():
        for window in windows:
            drawing = draw_sessions(stream_rows(_dated_rows(captures, window)), gap_seconds)
            sessions += drawing.sessions
            duplicates += drawing.duplicate_timestamps
    return Plan(
        sessions,
        existing_names=dict(
            Event.objects.filter(deployment=deployment).values_list("pk", "group_by")
        ),
        duplicate_timestamps=duplicates,
        captures_without_timestamp=captures.filter(timestamp__isnull=True).count(),
        undated_in_sessions=sessioned_undated_captures(deployment).count(),
    )


def sessioned_undated_captures(deployment: Deployment) -> QuerySet[SourceImage]:
    """Captures without a timestamp that are in a session: the rules give them none."""
    return SourceImage.objects.filter(
        deployment=deployment, timestamp__isnull=True, event__isnull=False
    )


def _dated_rows(captures: QuerySet[SourceImage], window: Window) -> QuerySet:
    """(timestamp in microseconds, session) of the window's dated captures, in
    (deployment, timestamp) index order, so the database needs no sort."""
    dated = captures.filter(timestamp__isnull=False)
    if window.first is not None:
        dated = dated.filter(timestamp__gte=window.first)
    if window.last is not None:
        dated = dated.filter(timestamp__lte=window.last)
    return (
        dated.annotate(moment=EpochMicroseconds("timestamp"))
        .values_list("moment", "event_id")
        .order_by("timestamp")
    )
