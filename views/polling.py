"""How often a page asks about an active job, and the cheap answer when nothing changed.

Every poller (the card's progress, a rollup row, a job's row, the job page's live region)
is an htmx element with `hx-trigger="every Ns"` whose URL carries `seen`, a token of what it
shows. A poll whose token still matches is answered 204 No Content without rendering
anything: htmx 2 does not swap on 204, so the element keeps its markup and its timer. Any
other answer replaces the element with a fresh one, with a fresh token and interval.

The interval grows with the time since the job last changed status (queued, started,
cancel asked): every second at first, when people are watching closely, then every 2, 3
and 5 seconds. Near a stage's end (its time left is known and short) it falls back to 1 s,
so the end never shows up late. The interval is part of the token, so a poller whose
interval is due to change gets a fresh element even when the job itself has not moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone

from jobs.models import Job, JobStatus

from .http import HtmxHttpRequest

# (seconds since the job last changed status, poll every so many seconds)
BACKOFF = ((10, 1), (30, 2), (60, 3))
SLOWEST = 5


@dataclass(frozen=True)
class Poll:
    """How a poller of one job asks again: every `seconds`, sending `seen`."""

    seconds: int
    seen: str


def poll_of(job: Job, extra: object = "", now: datetime | None = None) -> Poll:
    """The poll of an active job. `extra` is anything else the polled region shows that
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


def unchanged(request: HtmxHttpRequest, job: Job | None, extra: object = "") -> bool:
    """Whether the poller has already seen what it would be sent now: the job it follows
    is still active and the token it sent is the job's (with the same `extra`)."""
    seen = request.GET.get("seen")
    return bool(seen) and job is not None and job.is_active and poll_of(job, extra).seen == seen


def no_change() -> HttpResponse:
    """The answer to a poll that would change nothing on the page: htmx swaps nothing."""
    return HttpResponse(status=204)


def _seconds_left(job: Job) -> int | None:
    if job.status != JobStatus.STARTED:
        return None
    for stage in (job.progress or {}).get("stages", []):
        if stage.get("status") == JobStatus.STARTED:
            left = stage.get("eta_seconds")
            return int(left) if left is not None else None
    return None
