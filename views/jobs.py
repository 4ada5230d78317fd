"""The project's jobs: a list whose active rows refresh, a page per job, Cancel and Retry.

Pages render in full; htmx polls ask for one named partial (`job_list.html#job-row`,
`job_detail.html#job-live`) and get the same markup, without the trigger once the job
has ended, which stops the polling. A poll that would change nothing gets 204 without
rendering (views.polling); without JavaScript the job page refreshes itself instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from jobs.actions import cancel_job, retry_job
from jobs.job_type import NothingToDo
from jobs.models import Job, JobLog, JobStatus
from jobs.presenters import JobView, present
from monitoring.models import Project
from monitoring.permissions import can_manage

from . import polling
from .access import require_manager, with_visible_project
from .http import HtmxHttpRequest
from .pagination import page_of

LOG_LINES = 200
# Without JavaScript, an active job's page reloads itself this often.
NO_SCRIPT_REFRESH_SECONDS = 3


@require_safe
@with_visible_project
def job_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    jobs = page_of(request, _jobs_of(project))
    rows = [present(job) for job in jobs]
    return render(request, "job_list.html", {"project": project, "jobs": jobs, "rows": rows})


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def job_row(request: HtmxHttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = get_object_or_404(_jobs_of(project), pk=job_id)
    if not request.htmx:
        return redirect(job)
    if polling.unchanged(request, job):
        return polling.no_change()
    return render(request, "job_list.html#job-row", {"project": project, "view": present(job)})


@require_safe
@with_visible_project
def job_detail(request: HtmxHttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = get_object_or_404(_jobs_of(project), pk=job_id)
    context = _live_context(request, project, job)
    context["no_script_refresh_seconds"] = NO_SCRIPT_REFRESH_SECONDS
    return render(request, "job_detail.html", context)


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def job_live(request: HtmxHttpRequest, project: Project, job_id: int) -> HttpResponse:
    last_log = JobLog.objects.filter(job=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    jobs = _jobs_of(project).annotate(last_log_id=Subquery(last_log))
    job = get_object_or_404(jobs, pk=job_id)
    if not request.htmx:
        return redirect(job)
    if polling.unchanged(request, job, _live_extra(present(job), job.last_log_id)):
        return polling.no_change()
    context = _live_context(request, project, job)
    # The poll says what was last announced; words that haven't changed aren't sent again.
    context["announce"] = request.GET.get("announced") != context["view"].announcement
    return render(request, "job_detail.html#job-live", context)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def job_cancel(request: HtmxHttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = _managed_job(request, project, job_id)
    was = job.status
    job = cancel_job(job, request.user)
    if job.status == JobStatus.REVOKED and was != JobStatus.REVOKED:
        notice = "Cancelled: the job hadn't started yet."
    elif job.status == JobStatus.CANCELLING and was == JobStatus.STARTED:
        notice = "Cancel asked: the job stops at its next safe point."
    elif job.status == JobStatus.CANCELLING:
        notice = "The job is already stopping at its next safe point."
    else:
        notice = "Nothing to cancel: this job has already ended."
    return _after_action(request, project, job, notice)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def job_retry(request: HtmxHttpRequest, project: Project, job_id: int) -> HttpResponse:
    job = _managed_job(request, project, job_id)
    try:
        running, queued = retry_job(job, request.user)
    except NothingToDo as nothing:
        return _after_action(request, project, job, str(nothing))
    if running.pk != job.pk:
        if request.htmx:
            notice = "The same work is already running in another job, so no retry was queued."
            return _after_action(request, project, job, notice, other_job=running)
        notice = "The same work is already running in this job, so no retry was queued."
        return _after_action(request, project, running, notice)
    if queued:
        notice = "Retry queued: the job runs again when a worker is free."
    else:
        notice = "Only a failed or cancelled job can be retried."
    return _after_action(request, project, running, notice)


def _jobs_of(project: Project):
    return project.jobs.select_related("deployment", "source_image_collection", "created_by")


def _managed_job(request: HtmxHttpRequest, project: Project, job_id: int) -> Job:
    job = get_object_or_404(_jobs_of(project), pk=job_id)
    require_manager(request.user, project)
    return job


def _live_extra(view: JobView, last_log_id: int | None) -> str:
    """What the job page's live region shows beyond the job's row: its newest log line, and
    how long it has run (to the second for a minute, then by minutes)."""
    duration = view.duration_seconds
    if duration is not None and duration >= 60:
        duration = f"{duration // 60}m"
    return f"{last_log_id}:{duration}"


def _live_context(
    request: HtmxHttpRequest, project: Project, job: Job, **extra: Any
) -> dict[str, Any]:
    logs = list(job.logs.order_by("-pk")[:LOG_LINES])[::-1]
    live_extra = _live_extra(present(job), logs[-1].pk if logs else None)
    return {
        "project": project,
        "job": job,
        "view": present(job, poll_extra=live_extra),
        "logs": logs,
        "log_count": job.logs.count() if len(logs) == LOG_LINES else len(logs),
        "last_error": next(
            (line for line in reversed(logs) if line.level == JobLog.Level.ERROR), None
        ),
        "can_manage": can_manage(request.user, project),
        "announce": True,
        **extra,
    }


def _after_action(
    request: HtmxHttpRequest, project: Project, job: Job, notice: str, **extra: Any
) -> HttpResponse:
    """htmx gets the job's live region with the notice in it; a form post is redirected."""
    if request.htmx:
        context = _live_context(request, project, job, notice=notice, **extra)
        return render(request, "job_detail.html#job-live", context)
    messages.info(request, notice)
    return redirect(job)
