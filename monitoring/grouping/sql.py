"""What the regroup asks of each database beyond the ORM's common ground."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction
from django.db.models import BigIntegerField, Func, Model, QuerySet

from ..models import SourceImage
from .rules import MICROSECONDS, to_epoch_microseconds

# Rows fetched per round trip when streaming a deployment's captures or occurrences.
STREAM_ROWS = 20_000
# Ids, or sessions' spans, per UPDATE when setting sessions.
SET_BATCH = 1_000


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


def gap_runs(captures: QuerySet[SourceImage], gap_seconds: int) -> list[tuple[int, int, int, int]]:
    """Runs of these dated captures between gaps of at least `gap_seconds`, in time order:
    for each, its first and last timestamp in microseconds since 1970, its captures, and
    how many of its timestamps several captures share.

    The database walks the distinct timestamps in order once (captures sharing one are
    counted together first, so they always fall in the same run), keeping running totals
    of captures and shared timestamps, and returns only the timestamps where a run starts
    or ends; a run's numbers are the differences of the totals between its two ends.
    PostgreSQL compares timestamps as they are (turning each into a number is numeric
    arithmetic, slow over every row); SQLite stores them as text, so there each becomes
    whole microseconds first.
    """
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        dated = captures.values_list("timestamp")
        value, gap = connection.ops.quote_name("timestamp"), gap_seconds

        def apart(earlier: str, later: str) -> str:
            return f"{earlier} <= {later} - %s * interval '1 second'"

    else:
        dated = captures.annotate(moment=EpochMicroseconds("timestamp")).values_list("moment")
        value, gap = "moment", gap_seconds * MICROSECONDS

        def apart(earlier: str, later: str) -> str:
            return f"{later} - {earlier} >= %s"

    sql, params = dated.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT value, n, through_n, through_shared, starts, ends FROM (
                SELECT value, n, through_n, through_shared,
                    previous IS NULL OR {apart("previous", "value")} AS starts,
                    following IS NULL OR {apart("value", "following")} AS ends
                FROM (
                    SELECT value, n, lag(value) OVER w AS previous,
                        lead(value) OVER w AS following,
                        CAST(sum(n) OVER w AS BIGINT) AS through_n,
                        sum(CASE WHEN n > 1 THEN 1 ELSE 0 END) OVER w AS through_shared
                    FROM (
                        SELECT {value} AS value, count(*) AS n FROM ({sql}) AS dated
                        GROUP BY {value}
                    ) AS distinct_values
                    WINDOW w AS (ORDER BY value ROWS UNBOUNDED PRECEDING)
                ) AS neighbours
            ) AS edges WHERE starts OR ends ORDER BY value""",
            [gap, gap, *params],
        )
        edges = cursor.fetchall()
    runs = []
    for moment, n, through_n, through_shared, starts, ends in edges:
        if postgresql:
            moment = to_epoch_microseconds(moment)
        if starts:
            first, before_n, before_shared = moment, through_n - n, through_shared - (n > 1)
        if ends:
            runs.append((first, moment, through_n - before_n, through_shared - before_shared))
    return runs


def move_captures(deployment_id: int, sessions: Iterable[tuple[int, datetime, datetime]]) -> int:
    """Put each dated capture of the deployment in the session whose span, (session,
    first, last), holds its timestamp, unless it is there already; return how many moved.

    One UPDATE for up to SET_BATCH sessions, joining their spans to the captures' index on
    (deployment, timestamp): one statement per chunk rather than one per session, each of
    which the database parsed and planned.
    """
    table = SourceImage._meta.db_table
    quote = connection.ops.quote_name
    event, deployment, timestamp = (
        quote(SourceImage._meta.get_field(name).column)
        for name in ("event", "deployment", "timestamp")
    )
    adapt = connection.ops.adapt_datetimefield_value
    spans = [(event_id, adapt(first), adapt(last)) for event_id, first, last in sessions]
    moved = 0
    with connection.cursor() as cursor:
        for start in range(0, len(spans), SET_BATCH):
            batch = spans[start : start + SET_BATCH]
            # VALUES names its columns column1, column2... on both databases.
            values = ", ".join(["(%s, %s, %s)"] * len(batch))
            cursor.execute(
                f"UPDATE {quote(table)} SET {event} = spans.column1 "
                f"FROM (VALUES {values}) AS spans WHERE {deployment} = %s "
                f"AND {timestamp} BETWEEN spans.column2 AND spans.column3 "
                f"AND ({event} IS NULL OR {event} <> spans.column1)",
                [*(value for span in batch for value in span), deployment_id],
            )
            moved += cursor.rowcount
    return moved


def set_sessions(model: type[Model], moves: Mapping[int | None, list[int]]) -> int:
    """Set the session of the rows of `model` (ids by their new session); return how many.

    Raw statements of at most SET_BATCH ids, for the reason move_captures gives.
    """
    quote = connection.ops.quote_name
    table, event = quote(model._meta.db_table), quote(model._meta.get_field("event").column)
    updated = 0
    with connection.cursor() as cursor:
        for event_id, pks in moves.items():
            for start in range(0, len(pks), SET_BATCH):
                batch = pks[start : start + SET_BATCH]
                placeholders = ", ".join(["%s"] * len(batch))
                cursor.execute(
                    f"UPDATE {table} SET {event} = %s WHERE {quote(model._meta.pk.column)} "
                    f"IN ({placeholders})",
                    [event_id, *batch],
                )
                updated += cursor.rowcount
    return updated


@contextmanager
def regroup_transaction() -> Iterator[None]:
    """A transaction of the regroup. On PostgreSQL, for its length:

    - its commit doesn't wait for the WAL to reach the disk: safe for the regroup's
      transactions, since a server crash can lose only the last few, never corrupt them,
      and a rerun writes them again; each commit otherwise waits for a disk flush;
    - no query is compiled by the JIT: the regroup's queries look big to the planner but
      run quickly, and compiling one took longer than running it (0.2 s);
    - sorts and hashes of a change's rows stay in memory (the default 4 MB spilled the
      relink's to disk).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('synchronous_commit', 'off', true), "
                    "set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
                )
        yield
