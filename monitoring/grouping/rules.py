"""The grouping rules, as pure functions: no database, no Django queries.

Parity with the upstream platform (see DESIGN.md): sort the distinct capture timestamps; a
new session starts when the gap to the previous timestamp is >= the session gap, or when
the timestamp is more than 24 h after the first timestamp of the session being built.
Captures sharing a timestamp share a session; captures with no timestamp have none.

Timestamps are whole microseconds since 1970 (UTC): exact, and cheap to read in bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..models import DEFAULT_SESSION_TIME_GAP_SECONDS

MAX_SESSION_LENGTH = timedelta(hours=24)
# Recorded on each deployment with the gap its sessions were drawn under. Raise it whenever
# the rules change what they draw: every deployment then gets a full regroup, not an
# incremental one that would trust sessions drawn by the old rules.
RULES_VERSION = 1
MICROSECONDS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_microseconds(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def to_epoch_microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass
class DrawnSession:
    """One session as the rules draw it, and what it shares with today's sessions.

    `first` and `last` are its first and last timestamps. `event_id` is the session that
    will hold it: set by the plan (an existing session) or when it is created.
    """

    first: int
    last: int
    captures: int = 0
    # Session the captures are in now (None: none) -> how many of this session's captures.
    shares: dict[int | None, int] = field(default_factory=dict)
    event_id: int | None = None
    # Timestamps it holds that several captures share.
    duplicates: int = 0

    @property
    def start(self) -> datetime:
        return from_epoch_microseconds(self.first)

    @property
    def end(self) -> datetime:
        return from_epoch_microseconds(self.last)

    @property
    def group_by(self) -> str:
        return self.start.isoformat()

    @property
    def captures_to_write(self) -> int:
        """Captures not yet in the session that will hold them."""
        return self.captures - self.shares.get(self.event_id, 0) if self.event_id else self.captures

    def previous_sessions(self) -> set[int]:
        """Existing sessions other than its own that hold some of its captures now."""
        return {event_id for event_id in self.shares if event_id not in (None, self.event_id)}


class Drawing(NamedTuple):
    sessions: list[DrawnSession]
    # Timestamps shared by several captures (worth a mention: often a sync fault).
    duplicate_timestamps: int


def session_gap(project_gap: int | None, override: int | None = None) -> tuple[int, str | None]:
    """The gap to use, and a warning when the project's setting is not usable."""
    gap = override if override is not None else project_gap
    if gap is None or gap <= 0:
        return DEFAULT_SESSION_TIME_GAP_SECONDS, (
            f"The session gap setting ({gap}) is not a positive number of seconds; "
            f"used the default of {DEFAULT_SESSION_TIME_GAP_SECONDS} seconds."
        )
    return gap, None


# Asked of a row that would start a new session: end the drawing before it?
StopBefore = Callable[[int, int | None], bool]


def draw_sessions(
    captures: Iterable[tuple[int, int | None]],
    gap_seconds: int,
    stop_before: StopBefore | None = None,
) -> Drawing:
    """Apply the rules to (timestamp, current session) rows, one per dated capture, sorted
    by timestamp.

    The rules start afresh at the first row, so rows that begin after a gap of at least
    `gap_seconds` draw the same sessions alone as within everything before them. Only the
    sessions are kept in memory, never the rows. With `stop_before`, the drawing ends
    before the first row that starts a session and for which it says so; that row and
    the rest are left unread.
    """
    gap = gap_seconds * MICROSECONDS
    max_length = MAX_SESSION_LENGTH // timedelta(microseconds=1)
    sessions: list[DrawnSession] = []
    current = DrawnSession(first=0, last=0)
    previous: int | None = None
    at_previous = 0
    for timestamp, event_id in captures:
        if timestamp != previous:
            if at_previous > 1:
                current.duplicates += 1
            at_previous = 0
            if (
                previous is None
                or timestamp - previous >= gap
                or timestamp - current.first > max_length
            ):
                if stop_before is not None and stop_before(timestamp, event_id):
                    break
                current = DrawnSession(first=timestamp, last=timestamp)
                sessions.append(current)
            current.last = timestamp
            previous = timestamp
        at_previous += 1
        current.captures += 1
        current.shares[event_id] = current.shares.get(event_id, 0) + 1
    if at_previous > 1:
        current.duplicates += 1
    return Drawing(sessions, sum(session.duplicates for session in sessions))
