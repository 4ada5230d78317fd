"""Start, cancel, retry and reap jobs: what the views and the worker ask of jobs.

Permission checks are the caller's (views check the project role first).

Any number of people may start, retry and cancel the same work at once. The database
keeps at most one active job of a type per target (conditional unique constraints); these
functions turn losing that race into a sensible answer: the job that won, or, when the
winner has already ended (a pending job cancelled at once), another try.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from .family import settle, settle_parent_of
from .job_type import JobType
from .models import PARENT_JOB_TYPES, TARGET_FIELDS, Job, JobLog, JobQuerySet, JobStatus, Target
from .registry import get_job_type

logger = logging.getLogger(__name__)

# How often a start or retry tries again when it lost the race to a job that has ended by
# the time it looks; each try needs another request to win and end a job meanwhile.
QUEUE_TRIES = 5


def start(
    job_type: str | JobType,
    target: Target,
    user: AbstractBaseUser | None,
    params: dict[str, Any] | None = None,
) -> tuple[Job, bool]:
    """Queue a job of this type (or key) on `target`, or return the one already active.

    `params` are the job's options, kept on the job (its type reads them). Returns the job
    and whether it was created now. Raises NothingToDo, and queues nothing, when the type's
    check finds a run would change nothing.
    """
    params = params or {}
    if isinstance(job_type, str):
        job_type = get_job_type(job_type)
    if not isinstance(target, job_type.target):
        raise TypeError(f"{job_type.name} runs on a {job_type.target.__name__}, not {target!r}.")
    same_work = Job.objects.of_type(job_type.key).for_target(target)
    reap_stale_jobs(same_work)
    for _ in range(QUEUE_TRIES):
        active = same_work.active().first()
        if active is not None:
            return active, False
        job_type.check_target(target, params)
        job = Job(
            job_type_key=job_type.key,
            params=params,
            created_by=user if user and user.is_authenticated else None,
            status=JobStatus.PENDING,
            task_id=str(uuid.uuid4()),
            heartbeat_at=timezone.now(),
            # A job on the project itself (a parent job) holds it in `project` alone.
            **{
                "project": getattr(target, "project", target),
                TARGET_FIELDS[job_type.target]: target,
            },
        )
        job.name = job_type.describe(job)
        try:
            with transaction.atomic():
                job.save()
                job.log(f"Queued by {_who(user)}.")
                _queue(job_type, job, user)
        except IntegrityError:
            # Someone else (or another tab) queued the same work first: look again.
            continue
        return job, True
    return _current_state(same_work)


def cancel_job(job: Job, user: AbstractBaseUser | None) -> Job:
    """Stop a job: at once if no worker has it yet, else at its next safe point."""
    who = _who(user)
    by = user if user and user.is_authenticated else None
    if Job.objects.filter(pk=job.pk, status__in=[JobStatus.CREATED, JobStatus.PENDING]).update(
        status=JobStatus.REVOKED,
        cancelled_by=by,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    ):
        job.log(f"Cancelled by {who} before it started.", JobLog.Level.WARNING)
        settle_parent_of(job)
    elif Job.objects.filter(pk=job.pk, status=JobStatus.STARTED).update(
        status=JobStatus.CANCELLING, cancelled_by=by, updated_at=timezone.now()
    ):
        job.log(f"Cancel asked by {who}; stopping at the next safe point.", JobLog.Level.WARNING)
        settle_parent_of(job)
    if job.is_parent:
        # Every child stops: those no worker has yet at once, the others at their next
        # safe point; the parent ends cancelled when the last has.
        for child in Job.objects.filter(parent=job).active():
            cancel_job(child, user)
        settle(job.pk)
    job.refresh_from_db()
    return job


def retry_job(job: Job, user: AbstractBaseUser | None) -> tuple[Job, bool]:
    """Run a failed or cancelled job again, as a new run of the same job.

    If the same work is already active (another job on the same target), return that
    one instead: there is never more than one. Returns the job and whether it was queued.
    Raises NothingToDo, and queues nothing, when the run would have nothing to do.
    """
    job_type = get_job_type(job.job_type_key)
    same_work = Job.objects.of_type(job_type.key).for_target(job.target)
    for _ in range(QUEUE_TRIES):
        active = same_work.active().first()
        if active is not None:  # this job itself, or another on the same target
            return active, False
        job.refresh_from_db()
        if not job.can_retry:
            return job, False
        job_type.check_target(job.target, job.params)
        try:
            with transaction.atomic():
                queued = Job.objects.filter(
                    pk=job.pk, status__in=[JobStatus.FAILURE, JobStatus.REVOKED]
                ).update(
                    status=JobStatus.PENDING,
                    started_at=None,
                    finished_at=None,
                    result=None,
                    task_id=str(uuid.uuid4()),
                    heartbeat_at=timezone.now(),
                    recoveries=0,
                    cancelled_by=None,
                    updated_at=timezone.now(),
                )
                job.refresh_from_db()
                if queued:
                    job.log(f"Retried by {_who(user)}.")
                    _queue(job_type, job, user)
                    settle_parent_of(job)
        except IntegrityError:
            # Another job on the same target became active first: look again.
            continue
        return job, bool(queued)
    return _current_state(same_work)


def reap_stale_jobs(jobs: JobQuerySet | None = None) -> int:
    """Recover running jobs whose worker went silent (killed, or its machine lost).

    Each runs again, queued anew, until it has had JOBS_MAX_ATTEMPTS runs since a person
    queued it; then it is marked failed, ready for Retry. A job being cancelled is marked
    cancelled instead. Returns how many jobs it recovered or ended.

    Active parent jobs, which have no worker, are settled too: each child's changes settle
    its parent as they happen, and this catches a parent whose child is gone (deleted with
    its deployment).
    """
    now = timezone.now()
    handled = 0
    jobs = jobs if jobs is not None else Job.objects.all()
    for parent_id in (
        jobs.filter(job_type_key__in=PARENT_JOB_TYPES).active().values_list("pk", flat=True)
    ):
        settle(parent_id)
    for stale in jobs.stale(now):
        with transaction.atomic():
            # Look again under the row lock: its worker may have beaten since, a redelivered
            # message may have resumed it, or another reaper may have acted.
            job = Job.objects.select_for_update().stale(now).filter(pk=stale.pk).first()
            if job is None:
                continue
            handled += 1
            silent = _silent_since(job.heartbeat_at)
            if end_silent_run(job, now):
                continue
            job.status = JobStatus.PENDING
            job.recoveries += 1
            job.task_id = str(uuid.uuid4())
            job.heartbeat_at = now
            job.save(
                update_fields=["status", "recoveries", "task_id", "heartbeat_at", "updated_at"]
            )
            job.log(
                f"{silent} Queued again automatically: run "
                f"{job.runs_since_queued} of at most {settings.JOBS_MAX_ATTEMPTS}.",
                JobLog.Level.WARNING,
            )
            _dispatch_on_commit(job)
            settle_parent_of(job)
        logger.warning(
            "Job %s lost its worker; queued again (run %s of at most %s).",
            job.pk,
            job.runs_since_queued,
            settings.JOBS_MAX_ATTEMPTS,
        )
    return handled


def end_silent_run(job: Job, now: datetime) -> bool:
    """End a running job whose worker went silent, if it must not run again: a cancel was
    asked, or it has had its JOBS_MAX_ATTEMPTS runs. Returns whether it ended.

    Call it in a transaction holding the job's row; the reaper and a worker that receives
    the job's message again both do.
    """
    silent = _silent_since(job.heartbeat_at)
    if job.status == JobStatus.CANCELLING:
        status = JobStatus.REVOKED
        message = f"{silent} It was being cancelled: marked cancelled. Retry runs it again."
        level = JobLog.Level.WARNING
    elif not job.may_recover:
        status = JobStatus.FAILURE
        runs = job.runs_since_queued
        message = (
            f"{silent} That was its run {runs} of at most {settings.JOBS_MAX_ATTEMPTS}: marked "
            "failed rather than run again. Retry runs it again and completes the work."
        )
        level = JobLog.Level.ERROR
    else:
        return False
    job.status = status
    job.finished_at = now
    job.save(update_fields=["status", "finished_at", "updated_at"])
    job.log(message, level)
    settle_parent_of(job)
    logger.warning("Job %s lost its worker; marked %s.", job.pk, job.get_status_display().lower())
    return True


def _silent_since(heartbeat_at: datetime | None) -> str:
    if heartbeat_at is None:
        return "No sign of life from its worker."
    quiet_since = timezone.localtime(heartbeat_at).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"No sign of life from its worker since {quiet_since}: the worker was stopped or "
        "lost its connection."
    )


def _current_state(same_work: JobQuerySet) -> tuple[Job, bool]:
    """After losing every try: the active job if there is one now, else the latest."""
    job = same_work.active().first() or same_work.newest()
    if job is None:  # every conflicting job was deleted meanwhile
        raise RuntimeError("Could not queue the job; try again.")
    return job, False


def _queue(job_type: JobType, job: Job, user: AbstractBaseUser | None) -> None:
    """Send a queued job to the workers when its transaction commits; a parent job fans out
    into its children instead, in the same transaction."""
    if job_type.fan_out is not None:
        job_type.fan_out(job, user)
    else:
        _dispatch_on_commit(job)


def _dispatch_on_commit(job: Job) -> None:
    from .tasks import run_job

    task_id = job.task_id
    transaction.on_commit(lambda: run_job.apply_async((job.pk,), task_id=task_id))


def _who(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user and user.is_authenticated else "the system"
