"""How often a page watching an active job asks again, and a token of what it last saw.

The interval grows with the time since the job last changed status (queued, started,
cancel asked): every second at first, when people are watching closely, then every 2, 3
and 5 seconds. Near a stage's end (its time left is known and short) it falls back to 1 s,
so the end never shows up late. The interval is part of the token, so a watcher whose
interval is due to change is sent a fresh one even when the job itself has not moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .models import Job, JobStatus

# (seconds since the job last changed status, poll every so many seconds)
BACKOFF = ((10, 1), (30, 2), (60, 3))
SLOWEST = 5


@dataclass(frozen=True)
class Poll:
    """How a watcher of one job asks again: every `seconds`, sending `seen`."""

    seconds: int
    seen: str


def poll_of(job: Job, extra: object = "", now: datetime | None = None) -> Poll:
    """The poll of an active job. `extra` is anything else the watching region shows that
    can change while the job's row does not (the job page's log, its running time)."""
    seconds = poll_seconds(job, now)
    state = [job.pk, job.status, job.progress, seconds, str(extra)]
    digest = hashlib.blake2b(
        json.dumps(state, sort_keys=True, separators=(",", ":"), default=str).encode(),
        digest_size=8,
    )
    return Poll(seconds=seconds, seen=digest.hexdigest())


def poll_seconds(job: Job, now: datetime | None = None) -> int:
    since = ((now or timezone.now()) - job.updated_at).total_seconds()
    seconds = next((every for under, every in BACKOFF if since < under), SLOWEST)
    left = _seconds_left(job)
    if left is not None:
        # Ask at least twice in the time the stage has left.
        seconds = max(1, min(seconds, left // 2))
    return seconds


def _seconds_left(job: Job) -> int | None:
    if job.status != JobStatus.STARTED:
        return None
    for stage in (job.progress or {}).get("stages", []):
        if stage.get("status") == JobStatus.STARTED:
            left = stage.get("eta_seconds")
            return int(left) if left is not None else None
    return None
