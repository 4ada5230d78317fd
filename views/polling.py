"""The cheap answer to a poll that would change nothing.

Every watcher of a job (the card's progress, a rollup row, a job's row, the job page's live
region) is an htmx element with `hx-trigger="every Ns"` whose URL carries `seen`, the token
of what it shows (jobs.polls). A poll whose token still matches is answered 204 No Content
without rendering anything: htmx 2 does not swap on 204, so the element keeps its markup
and its timer. Any other answer replaces the element with a fresh one, with a fresh token
and interval.
"""

from __future__ import annotations

from django.http import HttpResponse

from jobs.models import Job
from jobs.polls import poll_of

from .http import HtmxHttpRequest


def unchanged(request: HtmxHttpRequest, job: Job | None, extra: object = "") -> bool:
    """Whether the poller has already seen what it would be sent now: the job it follows
    is still active and the token it sent is the job's (with the same `extra`)."""
    seen = request.GET.get("seen")
    return bool(seen) and job is not None and job.is_active and poll_of(job, extra).seen == seen


def no_change() -> HttpResponse:
    """The answer to a poll that would change nothing on the page: htmx swaps nothing."""
    return HttpResponse(status=204)
