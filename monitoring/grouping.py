"""Group a deployment's captures into monitoring sessions (the regroup engine).

Rules (parity with the upstream platform, see DESIGN.md): sort the distinct capture
timestamps; a new session starts when the gap to the previous timestamp is >= the
project's session gap, or when the timestamp is more than 24 h after the first timestamp
of the session being built. Captures sharing a timestamp share a session; captures with no
timestamp have none.

Beyond upstream: a session whose captures stay together keeps its id (new groups are
matched to existing sessions by the captures they share), only captures whose session
changes are written, a second run writes nothing, and the work is done in chunks that are
each one transaction, with progress reported and a stop check between chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Exists,
    F,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
)

from .locks import deployment_lock
from .models import (
    DEFAULT_SESSION_TIME_GAP_SECONDS,
    Deployment,
    Detection,
    Event,
    Occurrence,
    SourceImage,
)

logger = logging.getLogger(__name__)

MAX_SESSION_LENGTH = timedelta(hours=24)
MICROSECONDS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STREAM_ROWS = 20_000
RELINK_BATCH = 1_000

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


class RegroupError(Exception):
    """The deployment can't be regrouped as asked (a message for people)."""


@dataclass
class RegroupSummary:
    deployment_id: int
    gap_seconds: int
    captures_to_group: int = 0
    captures_grouped: int = 0
    captures_ungrouped: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_deleted: int = 0
    sessions_total: int = 0
    duplicate_timestamps: int = 0
    captures_without_timestamp: int = 0
    occurrences_relinked: int = 0
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def wrote_nothing(self) -> bool:
        return not (
            self.captures_grouped
            or self.captures_ungrouped
            or self.sessions_created
            or self.sessions_updated
            or self.sessions_deleted
            or self.occurrences_relinked
        )


class EpochMicroseconds(Func):
    """A timestamp as whole microseconds since 1970: exact, and far cheaper to fetch in
    bulk than datetimes (the regroup reads every distinct timestamp of a deployment)."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
        )

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC. strftime works in
        # milliseconds and would round .999999 up, so it gets the whole seconds only and
        # the fraction (padded when missing) is added exactly.
        return self.as_sql(
            compiler,
            connection,
            template="(CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER)"
            " * 1000000 + CAST(substr(%(expressions)s || '.000000', 21, 6) AS INTEGER))",
        )


def from_epoch_microseconds(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass
class _Group:
    """One session as the rules draw it, and what it shares with existing sessions.

    `first` and `last` are timestamps in microseconds since 1970 (see EpochMicroseconds).
    """

    first: int
    last: int
    captures: int = 0
    # Existing session id (None: no session) -> captures of this group it holds now.
    shares: dict[int | None, int] = field(default_factory=dict)
    event_id: int | None = None

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
        return self.captures - self.shares.get(self.event_id, 0) if self.event_id else self.captures

    def previous_sessions(self) -> set[int]:
        return {event_id for event_id in self.shares if event_id not in (None, self.event_id)}


def session_gap(project_gap: int | None, override: int | None = None) -> tuple[int, str | None]:
    """The gap to use, and a warning when the project's setting is not usable."""
    gap = override if override is not None else project_gap
    if gap is None or gap <= 0:
        return DEFAULT_SESSION_TIME_GAP_SECONDS, (
            f"The session gap setting ({gap}) is not a positive number of seconds; "
            f"used the default of {DEFAULT_SESSION_TIME_GAP_SECONDS} seconds."
        )
    return gap, None


def draw_sessions(
    captures: Iterable[tuple[int, int | None]], gap_seconds: int
) -> tuple[list[_Group], int]:
    """Apply the grouping rules to (timestamp, current session) rows, one per capture,
    sorted by time.

    Timestamps are in microseconds since 1970. Returns the groups and the number of
    timestamps shared by several captures. Only the groups are kept in memory, never the
    timestamps.
    """
    gap = gap_seconds * MICROSECONDS
    max_length = MAX_SESSION_LENGTH // timedelta(microseconds=1)
    groups: list[_Group] = []
    current = _Group(first=0, last=0)
    previous: int | None = None
    at_previous = 0
    duplicates = 0
    for timestamp, event_id in captures:
        if timestamp != previous:
            duplicates += at_previous > 1
            at_previous = 0
            if (
                previous is None
                or timestamp - previous >= gap
                or timestamp - current.first > max_length
            ):
                current = _Group(first=timestamp, last=timestamp)
                groups.append(current)
            current.last = timestamp
            previous = timestamp
        at_previous += 1
        current.captures += 1
        current.shares[event_id] = current.shares.get(event_id, 0) + 1
    duplicates += at_previous > 1
    return groups, duplicates


def match_existing_sessions(groups: list[_Group], existing_ids: Iterable[int]) -> None:
    """Give each group the existing session it shares the most captures with.

    Greedy by shared captures (ties: older session, earlier group), one group per session,
    so a night that stays together keeps its id and links to it survive the regroup.
    """
    existing = set(existing_ids)
    candidates = sorted(
        (-shared, event_id, index)
        for index, group in enumerate(groups)
        for event_id, shared in group.shares.items()
        if event_id in existing
    )
    taken: set[int] = set()
    for _, event_id, index in candidates:
        group = groups[index]
        if group.event_id is None and event_id not in taken:
            group.event_id = event_id
            taken.add(event_id)


def regroup_deployment(
    deployment: Deployment,
    *,
    gap_seconds: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> RegroupSummary:
    """Regroup one deployment's captures into sessions and return what changed.

    Raises RegroupError if the deployment has no project, and locks.DeploymentBusy if
    another regroup of the same deployment is running.
    """
    if deployment.project_id is None:
        raise RegroupError(f"Deployment {deployment.pk} belongs to no project.")
    gap, warning = session_gap(deployment.project.session_time_gap_seconds, gap_seconds)
    summary = RegroupSummary(deployment_id=deployment.pk, gap_seconds=gap)
    if warning:
        logger.warning("Deployment %s: %s", deployment.pk, warning)
        summary.warnings.append(warning)

    with deployment_lock(deployment.pk):
        _Regroup(deployment, summary, progress, should_stop).run()
    return summary


class _Regroup:
    def __init__(
        self,
        deployment: Deployment,
        summary: RegroupSummary,
        progress: ProgressCallback | None,
        should_stop: StopCheck | None,
    ) -> None:
        self.deployment = deployment
        self.summary = summary
        self.report = progress or (lambda done, total: None)
        self.should_stop = should_stop or (lambda: False)
        self.captures = SourceImage.objects.filter(deployment=deployment)
        self.touched_sessions: set[int] = set()
        self.existing_names: dict[int, str] = {}

    def run(self) -> None:
        summary = self.summary
        groups, summary.duplicate_timestamps = self._draw()
        existing = self.existing_names = dict(
            Event.objects.filter(deployment=self.deployment).values_list("pk", "group_by")
        )
        match_existing_sessions(groups, existing)
        without_timestamp = self.captures.filter(timestamp__isnull=True)
        summary.captures_without_timestamp = without_timestamp.count()
        sessioned_without_timestamp = without_timestamp.filter(event__isnull=False)

        pending = [
            group
            for group in groups
            if group.captures_to_write or existing.get(group.event_id) != group.group_by
        ]
        summary.captures_to_group = sum(group.captures_to_write for group in pending)
        to_ungroup = sessioned_without_timestamp.count()
        total = summary.captures_to_group + to_ungroup
        done = 0
        self.report(done, total)

        self._free_names(groups, existing)
        if to_ungroup:
            done += self._ungroup(sessioned_without_timestamp)
        for chunk in _chunks(pending):
            if self.should_stop():
                summary.stopped = True
                break
            done += self._apply(chunk)
            self.report(done, total)
        self._finish(set(existing))

    def _draw(self) -> tuple[list[_Group], int]:
        """Draw the sessions the rules want, with what each shares with today's sessions.

        Reads (timestamp, session) of every dated capture in time order, straight from a
        server-side cursor: in (deployment, timestamp) index order, with no sort and no
        per-row model conversion, which is most of the cost of reading a big deployment.
        """
        dated = (
            self.captures.filter(timestamp__isnull=False)
            .annotate(moment=EpochMicroseconds("timestamp"))
            .values_list("moment", "event_id")
            .order_by("timestamp")
        )
        sql, params = dated.query.sql_with_params()
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            return draw_sessions(_fetch_all(cursor), self.summary.gap_seconds)

    def _free_names(self, groups: list[_Group], existing: dict[int, str]) -> None:
        """Rename sessions whose group_by another session is about to take.

        group_by is unique per deployment, and a session's start can move to where another
        session starts today. Renamed sessions get their real name in their own chunk, or
        are deleted at the end.
        """
        wanted = {group.group_by: group.event_id for group in groups}
        blocking = [
            event_id
            for event_id, group_by in existing.items()
            if group_by in wanted and wanted[group_by] != event_id
        ]
        with transaction.atomic():
            for event_id in blocking:
                Event.objects.filter(pk=event_id).update(group_by=f"regrouping-{event_id}")

    def _ungroup(self, sessioned_without_timestamp: QuerySet[SourceImage]) -> int:
        with transaction.atomic():
            sessions = set(sessioned_without_timestamp.values_list("event_id", flat=True))
            ungrouped = sessioned_without_timestamp.update(event=None)
            Event.objects.filter(pk__in=sessions).update_calculated_fields()
        self.touched_sessions |= sessions
        self.summary.captures_ungrouped = ungrouped
        return ungrouped

    def _apply(self, chunk: list[_Group]) -> int:
        """Write one chunk of groups in one transaction; return the captures written."""
        summary = self.summary
        written = 0
        with transaction.atomic():
            _commit_without_waiting_for_disk()
            new_groups = [group for group in chunk if group.event_id is None]
            created = Event.objects.bulk_create(
                Event(
                    deployment=self.deployment,
                    project_id=self.deployment.project_id,
                    group_by=group.group_by,
                    start=group.start,
                    end=group.end,
                )
                for group in new_groups
            )
            for group, event in zip(new_groups, created, strict=True):
                group.event_id = event.pk
            summary.sessions_created += len(created)

            touched: set[int] = set()
            for group in chunk:
                written += (
                    self.captures.filter(timestamp__range=(group.start, group.end))
                    .exclude(event_id=group.event_id)
                    .update(event_id=group.event_id)
                )
                if self.existing_names.get(group.event_id, group.group_by) != group.group_by:
                    Event.objects.filter(pk=group.event_id).update(group_by=group.group_by)
                touched |= group.previous_sessions() | {group.event_id}
            Event.objects.filter(pk__in=touched).update_calculated_fields()
        self.touched_sessions |= touched
        summary.captures_grouped += written
        return written

    def _finish(self, existing: set[int]) -> None:
        """Relink occurrences, delete empty sessions, refresh the deployment's counts.

        Also runs after a stop, so what was done is consistent and the counts are honest.
        """
        summary = self.summary
        with transaction.atomic():
            summary.occurrences_relinked, relinked_sessions = relink_occurrences(self.deployment)
            Event.objects.filter(pk__in=relinked_sessions).update_calculated_fields()
        self.touched_sessions |= relinked_sessions

        with transaction.atomic():
            empty = Event.objects.filter(deployment=self.deployment).filter(
                ~Exists(SourceImage.objects.filter(event=OuterRef("pk"))),
                ~Exists(Occurrence.objects.filter(event=OuterRef("pk"))),
            )
            deleted = set(empty.values_list("pk", flat=True))
            Event.objects.filter(pk__in=deleted).delete()
        summary.sessions_deleted = len(deleted)
        summary.sessions_updated = len((self.touched_sessions & existing) - deleted)
        self.deployment.update_calculated_fields(save=True)
        summary.sessions_total = self.deployment.events_count


def relink_occurrences(deployment: Deployment) -> tuple[int, set[int]]:
    """Set each occurrence's session to that of its earliest detection's capture.

    Returns how many occurrences changed and the sessions they left or joined. Reads each
    occurrence's wanted session once (one correlated lookup per occurrence, by index) and
    writes only the occurrences whose session differs, grouped by their new session.
    """
    earliest = Subquery(
        Detection.objects.filter(occurrence=OuterRef("pk"))
        .order_by(F("source_image__timestamp").asc(nulls_last=True), "pk")
        .values("source_image__event")[:1]
    )
    wanted = (
        Occurrence.objects.filter(deployment=deployment)
        .filter(Exists(Detection.objects.filter(occurrence=OuterRef("pk"))))
        .annotate(session=earliest)
        .order_by()
        .values_list("pk", "event_id", "session")
    )
    moves: dict[int | None, list[int]] = {}
    sessions: set[int] = set()
    for pk, current, session in wanted.iterator(chunk_size=STREAM_ROWS):
        if current != session:
            moves.setdefault(session, []).append(pk)
            sessions.update(event_id for event_id in (current, session) if event_id)
    relinked = 0
    for session, pks in moves.items():
        for start in range(0, len(pks), RELINK_BATCH):
            batch = pks[start : start + RELINK_BATCH]
            relinked += Occurrence.objects.filter(pk__in=batch).update(event_id=session)
    return relinked, sessions


def _fetch_all(cursor) -> Iterable[tuple]:
    while rows := cursor.fetchmany(STREAM_ROWS):
        yield from rows


def _commit_without_waiting_for_disk() -> None:
    """Let PostgreSQL acknowledge this chunk's commit before its WAL reaches the disk.

    Safe here: a server crash can lose only the last few chunks, never corrupt them, and a
    rerun writes them again. Each chunk's commit otherwise waits for a disk flush.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _chunks(groups: list[_Group]) -> Iterable[list[_Group]]:
    chunk: list[_Group] = []
    size = 0
    for group in groups:
        chunk.append(group)
        size += group.captures_to_write
        if size >= settings.REGROUP_CHUNK_CAPTURES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
