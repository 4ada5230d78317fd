"""One step of the regroup benchmark, run in a fresh process on the database DATABASE_URL
names, so its peak memory is its own and the benchmark can work on two databases.

    python bench/regroup_steps.py STEP DEPLOYMENT_ID

Prints one JSON line: {"seconds": ..., "rows": ..., "read": ..., "mode": ..., "peak_mb": ...}
(`read`: captures the regroup read; `mode`: the way it ran). Steps that time something:
- ours: monitoring.grouping.regroup_deployment, as a Regroup runs it (incremental while
  the deployment's recorded settings match);
- full: the same, redrawing every night (Check every night);
- late: 1,000 new captures among those of the deployment's last session (added first, not
  timed), then ours;
- baseline: the upstream way, for each session get-or-create it, then update the captures
  whose timestamp is in that session's list (every session, as upstream does);
- floor: the cheapest single statement writing the rows ours writes (captures and
  occurrences); floor_captures: one raw UPDATE of the captures alone (the issue's floor);
- idle: nothing, to show what Django alone takes.
Untimed steps, on the deployment's snapshot (tables bench_*: its captures' and occurrences'
sessions, and its sessions): take, restore (puts it back, with the settings its sessions were
drawn under, and vacuums), and trim (deletes what `late` added).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from monitoring.grouping import (  # noqa: E402
    MAX_SESSION_LENGTH,
    RULES_VERSION,
    apply,
    regroup,
    regroup_deployment,
    session_gap,
)
from monitoring.grouping.sql import regroup_transaction  # noqa: E402
from monitoring.models import Deployment, Event, Occurrence, SourceImage  # noqa: E402

# bench/run.py says how many.
LATE_CAPTURES = int(os.environ.get("BENCH_LATE_CAPTURES", "1000"))


def ours(deployment: Deployment, full: bool = False) -> dict:
    with phases() as spent:
        summary = regroup_deployment(deployment, full=full)
    return {
        "rows": summary.captures_grouped,
        "occurrences": summary.occurrences_relinked,
        "read": summary.captures_read,
        "mode": summary.mode,
        "phases": spent,
    }


@contextmanager
def phases() -> Iterator[dict[str, float]]:
    """Seconds spent in each part of the regroup: reading and drawing, moving captures
    (chunks and their commits), relinking occurrences, and the rest of the finish (deleting
    empty sessions, refreshing sessions' and the deployment's counts)."""
    spent: dict[str, float] = {}
    parts = [
        (regroup, "read_plan", "read"),
        (regroup, "read_changed_plan", "read"),
        (apply._Writer, "_write", "move"),
        (apply, "relink_occurrences", "relink"),
        (apply._Writer, "_finish", "finish"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in parts]
    for owner, name, part in parts:
        setattr(owner, name, _timing(getattr(owner, name), part, spent))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        # The finish's own time, without the relink inside it.
        spent["finish"] = spent.get("finish", 0) - spent.get("relink", 0)


def _timing(function, part: str, spent: dict[str, float]):
    @wraps(function)
    def timed_part(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[part] = spent.get(part, 0) + time.perf_counter() - started

    return timed_part


def full(deployment: Deployment) -> dict:
    return ours(deployment, full=True)


def late(deployment: Deployment) -> dict:
    """Not timed: LATE_CAPTURES new captures spread over the last session's night."""
    last = Event.objects.filter(deployment=deployment).order_by("-start").first()
    step = (last.end - last.start) / LATE_CAPTURES
    SourceImage.objects.bulk_create(
        SourceImage(
            deployment=deployment,
            project_id=deployment.project_id,
            timestamp=last.start + step * (number + 0.5),
            path=f"{deployment.pk}/late/{number:04d}.jpg",
        )
        for number in range(LATE_CAPTURES)
    )
    return timed(ours, deployment)


def baseline(deployment: Deployment) -> dict:
    """The upstream platform's regroup, kept naive on purpose: it is what we compare to."""
    gap = timedelta(seconds=deployment.project.session_time_gap_seconds)
    timestamps = list(
        SourceImage.objects.filter(deployment=deployment, timestamp__isnull=False)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
        .distinct()
    )
    groups: list[list] = []
    for timestamp in timestamps:
        if (
            not groups
            or timestamp - groups[-1][-1] >= gap
            or (timestamp - groups[-1][0] > MAX_SESSION_LENGTH)
        ):
            groups.append([])
        groups[-1].append(timestamp)
    written = 0
    for group in groups:
        with transaction.atomic():
            event, _ = Event.objects.get_or_create(
                deployment=deployment,
                group_by=group[0].isoformat(),
                defaults={"project": deployment.project, "start": group[0], "end": group[-1]},
            )
            written += SourceImage.objects.filter(
                deployment=deployment, timestamp__in=group
            ).update(event=event)
            Occurrence.objects.filter(detections__source_image__event=event).update(event=event)
            event.update_calculated_fields()
    deployment.update_calculated_fields()
    return {"rows": written}


def floor(deployment: Deployment) -> dict:
    """The cheapest single statement writing the rows ours writes: its captures without a
    session and its occurrences without one (here the occurrences ours relinks, as the
    results check), all into one session; under the settings ours runs with."""
    event_id = Event.objects.filter(deployment=deployment).values_list("pk", flat=True).first()
    with regroup_transaction(), connection.cursor() as cursor:
        cursor.execute(
            f"""WITH captures AS (
                UPDATE {SourceImage._meta.db_table} SET event_id = %(event)s
                WHERE deployment_id = %(deployment)s AND event_id IS NULL
                    AND timestamp IS NOT NULL
                RETURNING 1
            ), occurrences AS (
                UPDATE {Occurrence._meta.db_table} SET event_id = %(event)s
                WHERE deployment_id = %(deployment)s AND event_id IS NULL
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM occurrences)""",
            {"event": event_id, "deployment": deployment.pk},
        )
        captures, occurrences = cursor.fetchone()
    return {"rows": captures, "occurrences": occurrences}


def floor_captures(deployment: Deployment) -> dict:
    """The issue's floor: one raw UPDATE of the captures without a session alone."""
    event_id = Event.objects.filter(deployment=deployment).values_list("pk", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SourceImage._meta.db_table} SET event_id = %s "
            "WHERE deployment_id = %s AND event_id IS NULL AND timestamp IS NOT NULL",
            [event_id, deployment.pk],
        )
        return {"rows": cursor.rowcount, "occurrences": 0}


def idle(deployment: Deployment) -> dict:
    """Nothing: the memory a process needs just to start Django and load the deployment."""
    return {"rows": 0}


def take(deployment: Deployment) -> dict:
    with connection.cursor() as cursor:
        for table, kind in (
            ("bench_capture_events", "sourceimage"),
            ("bench_occurrence_events", "occurrence"),
        ):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE {table} AS SELECT id, event_id FROM monitoring_{kind} "
                "WHERE deployment_id = %s",
                [deployment.pk],
            )
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        cursor.execute("DROP TABLE IF EXISTS bench_events")
        cursor.execute(
            "CREATE TABLE bench_events AS SELECT * FROM monitoring_event WHERE deployment_id = %s",
            [deployment.pk],
        )
    return {}


def restore(deployment: Deployment) -> dict:
    trim(deployment)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_event SELECT * FROM bench_events b "
            "WHERE NOT EXISTS (SELECT 1 FROM monitoring_event e WHERE e.id = b.id)"
        )
        cursor.execute(
            "UPDATE monitoring_event e SET group_by = b.group_by, start = b.start, "
            '"end" = b."end", captures_count = b.captures_count, '
            "detections_count = b.detections_count, occurrences_count = b.occurrences_count "
            "FROM bench_events b WHERE e.id = b.id"
        )
        for table, kind in (
            ("bench_capture_events", "sourceimage"),
            ("bench_occurrence_events", "occurrence"),
        ):
            cursor.execute(
                f"UPDATE monitoring_{kind} t SET event_id = b.event_id FROM {table} b "
                "WHERE t.id = b.id AND t.event_id IS DISTINCT FROM b.event_id"
            )
        cursor.execute(
            "DELETE FROM monitoring_event WHERE deployment_id = %s "
            "AND id NOT IN (SELECT id FROM bench_events)",
            [deployment.pk],
        )
    # The snapshot's sessions were drawn by these rules under the project's gap, as
    # seed_demo's regroup records them.
    gap, _ = session_gap(deployment.project.session_time_gap_seconds)
    Deployment.objects.filter(pk=deployment.pk).update(
        sessions_gap_seconds=gap, sessions_rules_version=RULES_VERSION
    )
    deployment.update_calculated_fields()
    # Each step starts from the same physical state: no dead rows left by the last one.
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE monitoring_sourceimage, monitoring_event, monitoring_occurrence"
        )
    return {}


def trim(deployment: Deployment) -> dict:
    """Delete the captures `late` added: those the snapshot doesn't have."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM monitoring_sourceimage s WHERE deployment_id = %s "
            "AND NOT EXISTS (SELECT 1 FROM bench_capture_events b WHERE b.id = s.id)",
            [deployment.pk],
        )
    return {}


def timed(run, deployment: Deployment) -> dict:
    started = time.perf_counter()
    result = run(deployment)
    return {"seconds": time.perf_counter() - started, **result}


STEPS = {
    "ours": ours,
    "full": full,
    "late": late,
    "baseline": baseline,
    "floor": floor,
    "floor_captures": floor_captures,
    "idle": idle,
    "take": take,
    "restore": restore,
    "trim": trim,
}
# Timed here; `late` times its own regroup, after adding its captures.
TIMED = {"ours", "full", "baseline", "floor", "floor_captures", "idle"}

if __name__ == "__main__":
    step, deployment_id = sys.argv[1], int(sys.argv[2])
    deployment = Deployment.objects.select_related("project").get(pk=deployment_id)
    result = timed(STEPS[step], deployment) if step in TIMED else STEPS[step](deployment)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak_mb, **result}))
