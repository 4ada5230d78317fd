"""What the regroup asks of each database beyond the ORM's common ground."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Func, QuerySet

# Rows fetched per round trip when streaming a deployment's captures or occurrences.
STREAM_ROWS = 20_000


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


def stream_rows(rows: QuerySet) -> Iterator[tuple]:
    """The tuples of a values_list query, from a server-side cursor, in its order.

    No per-row model conversion and never the whole result in memory, which is most of the
    cost of reading a big deployment. Iterate it inside a transaction: outside one,
    PostgreSQL's cursor is WITH HOLD and copies the whole result aside first.
    """
    sql, params = rows.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(STREAM_ROWS):
            yield from batch


def ends_of_runs(neighbours: QuerySet, gap: int) -> list[tuple[Any, ...]]:
    """The rows that begin or end a run, in time order: (moment, since_previous,
    until_next) where either distance is missing or at least `gap`.

    `neighbours` is a values_list of (capture, moment, since_previous, until_next), the
    distances computed by window functions and `capture` the id that orders captures that
    share a moment. The condition is written here: Django 5.2
    filters on window functions, but on PostgreSQL left half of this one out.
    """
    sql, params = neighbours.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT moment, since_previous, until_next "
            f"FROM ({sql}) neighbours "
            "WHERE since_previous IS NULL OR since_previous >= %s "
            "OR until_next IS NULL OR until_next >= %s "
            "ORDER BY moment, capture",
            [*params, gap, gap],
        )
        return cursor.fetchall()


def commit_without_waiting_for_disk() -> None:
    """Let PostgreSQL acknowledge this transaction's commit before its WAL reaches the disk.

    Safe for the regroup's chunks: a server crash can lose only the last few, never corrupt
    them, and a rerun writes them again. Each commit otherwise waits for a disk flush.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
