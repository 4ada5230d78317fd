"""Occurrences follow their captures: each one's session is that of its earliest detection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery

from ..models import Deployment, Detection, Occurrence, SessionCounts, SourceImage
from .sql import STREAM_ROWS, set_sessions


class MovedIn(NamedTuple):
    """What a regroup moved into one session: its captures, their first and last
    timestamp, and their detections."""

    captures: int
    first: datetime
    last: datetime
    detections: int


@dataclass
class Relinked:
    """What relinking occurrences changed."""

    # Occurrences whose session changed, and the sessions they left or joined.
    occurrences: int = 0
    sessions: set[int] = field(default_factory=set)
    # Occurrences that joined each session.
    joined: Counter[int] = field(default_factory=Counter)
    # Per session, what the regroup moved into it, when relinking read that anyway.
    moved: dict[int, MovedIn] | None = None

    def add(self, old: int | None, new: int | None, count: int) -> None:
        self.occurrences += count
        self.sessions.update(event_id for event_id in (old, new) if event_id)
        if new:
            self.joined[new] += count

    def counts_of_new_sessions(self, created: set[int]) -> dict[int, SessionCounts]:
        """The counts of these sessions, made by the regroup that moved the captures, as a
        recount would find them: all their captures, detections and occurrences came
        with what it moved and relinked. Only those whose moved captures were counted."""
        if self.moved is None:
            return {}
        return {
            event_id: SessionCounts(
                moved.first, moved.last, moved.captures, moved.detections, self.joined[event_id]
            )
            for event_id in created
            if (moved := self.moved.get(event_id)) is not None
        }


def relink_occurrences(
    deployment: Deployment, moved: QuerySet[SourceImage] | None = None
) -> Relinked:
    """Set each occurrence's session to that of its earliest detection's capture.

    With `moved`, only the occurrences with a detection on one of those captures (the ones
    a regroup put in another session): no other occurrence's earliest detection changed
    session.

    On PostgreSQL, one statement finds and writes them (reading them into Python and
    sending their ids back took twice as long as writing them), and counts what moved into
    each session. Elsewhere, each occurrence's wanted session is read once (one correlated
    lookup per occurrence, by index) and only the occurrences whose session differs are
    written, grouped by their new session.
    """
    if connection.vendor == "postgresql":
        return _relink_in_one_statement(deployment.pk, moved)
    detections = Detection.objects.filter(occurrence=OuterRef("pk"))
    earliest = Subquery(
        detections.order_by(F("source_image__timestamp").asc(nulls_last=True), "pk").values(
            "source_image__event"
        )[:1]
    )
    occurrences = Occurrence.objects.filter(deployment=deployment)
    if moved is None:
        occurrences = occurrences.filter(Exists(detections))
    else:
        occurrences = occurrences.filter(
            pk__in=Detection.objects.filter(source_image__in=moved).values("occurrence")
        )
    wanted = (
        occurrences.annotate(session=earliest).order_by().values_list("pk", "event_id", "session")
    )
    # Every occurrence through a server-side cursor, never all in memory; the few of a
    # change at once: a cursor is planned for its first rows, and that plan read the
    # deployment's occurrences to find them (0.2 s instead of 6 ms for 64).
    rows = wanted.iterator(chunk_size=STREAM_ROWS) if moved is None else wanted
    moves: dict[int | None, list[int]] = {}
    relinked = Relinked()
    for pk, current, session in rows:
        if current != session:
            moves.setdefault(session, []).append(pk)
            relinked.add(current, session, 1)
    set_sessions(Occurrence, moves)
    return relinked


def _relink_in_one_statement(deployment_id: int, moved: QuerySet[SourceImage] | None) -> Relinked:
    """PostgreSQL: relink_occurrences in one statement, which returns how many occurrences
    it moved per (old session, new session), and, given the captures that moved, what
    moved into each session: captures, first and last timestamp, and their detections.

    It gathers the detections of the occurrences to look at with their capture's session
    and timestamp, takes each occurrence's earliest and writes only the occurrences whose
    session differs. After a change, those detections are mostly on the moved captures,
    whose detections the counts reuse; the few others are looked up one by one (LIMIT 1
    keeps the planner from hashing the whole capture table for them). Reading them into
    Python and sending their ids back took longer than the writes.
    """
    quote = connection.ops.quote_name
    occurrence, detection, capture = (
        quote(model._meta.db_table) for model in (Occurrence, Detection, SourceImage)
    )
    if moved is None:
        detections_sql = f"""
            SELECT d.id, d.occurrence_id, c.event_id, c.timestamp
            FROM {detection} d JOIN {capture} c ON c.id = d.source_image_id
            WHERE d.occurrence_id IN (SELECT id FROM {occurrence} WHERE deployment_id = %s)"""
        params = [deployment_id]
        moved_counts, counts_params = "", []
    else:
        try:
            # No ordering: the model's would sort (and join) every moved capture.
            moved_sql, params = (
                moved.order_by().values("pk", "event_id", "timestamp").query.sql_with_params()
            )
        except EmptyResultSet:
            # A regroup stopped before it moved anything: no occurrence to relink.
            return Relinked(moved={})
        detections_sql = f"""
            SELECT d.id, d.occurrence_id, c.event_id, c.timestamp
            FROM {detection} d JOIN ({moved_sql}) c (id, event_id, timestamp)
                ON c.id = d.source_image_id),
        elsewhere AS (
            SELECT d.id, d.occurrence_id, c.event_id, c.timestamp
            FROM {detection} d CROSS JOIN LATERAL (
                SELECT event_id, timestamp FROM {capture} WHERE id = d.source_image_id LIMIT 1
            ) c
            WHERE d.occurrence_id IN (SELECT occurrence_id FROM on_moved)
                AND NOT EXISTS (SELECT FROM on_moved m WHERE m.id = d.id)),
        detections AS (
            SELECT * FROM on_moved WHERE occurrence_id IS NOT NULL
            UNION ALL SELECT * FROM elsewhere"""
        # The moved captures are counted apart: joined to their detections, the planner
        # can no longer tell how many rows they are.
        moved_counts = f"""
            UNION ALL
            SELECT false, NULL, m.event_id, m.captures, m.first, m.last,
                coalesce(d.detections, 0)
            FROM (
                SELECT event_id, count(*) AS captures, min(timestamp) AS first,
                    max(timestamp) AS last
                FROM ({moved_sql}) c (id, event_id, timestamp)
                WHERE event_id IS NOT NULL GROUP BY event_id
            ) m LEFT JOIN (
                SELECT event_id, count(*) AS detections FROM on_moved GROUP BY event_id
            ) d ON d.event_id = m.event_id"""
        counts_params = params
    first = "on_moved" if moved is not None else "detections"
    sql = f"""
        WITH {first} AS MATERIALIZED ({detections_sql}),
        wanted AS (
            SELECT DISTINCT ON (occurrence_id) occurrence_id AS id, event_id FROM detections
            ORDER BY occurrence_id, timestamp ASC NULLS LAST, id),
        changed AS MATERIALIZED (
            SELECT o.id, o.event_id AS old, w.event_id AS new
            FROM {occurrence} o JOIN wanted w ON w.id = o.id
            WHERE o.deployment_id = %s AND o.event_id IS DISTINCT FROM w.event_id),
        written AS (UPDATE {occurrence} o SET event_id = c.new FROM changed c WHERE o.id = c.id)
        SELECT true, old, new, count(*), NULL::timestamptz, NULL::timestamptz, NULL::bigint
        FROM changed GROUP BY old, new
        {moved_counts}
    """
    relinked = Relinked(moved={} if moved is not None else None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, deployment_id, *counts_params])
        for is_relink, old, new, count, first_moved, last_moved, detections in cursor.fetchall():
            if is_relink:
                relinked.add(old, new, count)
            else:
                relinked.moved[new] = MovedIn(count, first_moved, last_moved, detections)
    return relinked
