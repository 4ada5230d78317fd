"""One timed step of the regroup benchmark, run in a fresh process so its peak memory is its own.

    python bench/regroup_steps.py STEP DEPLOYMENT_ID

Prints one JSON line: {"seconds": ..., "rows": ..., "peak_mb": ...}. Steps:
- ours: monitoring.grouping.regroup_deployment
- baseline: the upstream way, for each session get-or-create it, then update the captures
  whose timestamp is in that session's list (every session, as upstream does)
- floor: one raw UPDATE writing the same rows as ours
- idle: nothing, to show what Django alone takes
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from monitoring.grouping import MAX_SESSION_LENGTH, regroup_deployment  # noqa: E402
from monitoring.models import Deployment, Event, Occurrence, SourceImage  # noqa: E402


def ours(deployment: Deployment) -> int:
    return regroup_deployment(deployment).captures_grouped


def baseline(deployment: Deployment) -> int:
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
    return written


def floor(deployment: Deployment) -> int:
    event_id = Event.objects.filter(deployment=deployment).values_list("pk", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SourceImage._meta.db_table} SET event_id = %s "
            "WHERE deployment_id = %s AND event_id IS NULL AND timestamp IS NOT NULL",
            [event_id, deployment.pk],
        )
        return cursor.rowcount


def idle(deployment: Deployment) -> int:
    """Nothing: the memory a process needs just to start Django and load the deployment."""
    return 0


STEPS = {"ours": ours, "baseline": baseline, "floor": floor, "idle": idle}

if __name__ == "__main__":
    step, deployment_id = sys.argv[1], int(sys.argv[2])
    deployment = Deployment.objects.select_related("project").get(pk=deployment_id)
    started = time.perf_counter()
    rows = STEPS[step](deployment)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak_mb}))
