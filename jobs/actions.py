"""Start, cancel, retry and reap jobs: what the views and the worker ask of jobs.

Permission checks are the caller's (views check the project role first).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.models import Deployment, Project, SourceImageCollection

from .models import ACTIVE_STATUSES, POPULATE_JOB, REGROUP_JOB, Job, JobLog, JobStatus
from .registry import get_job_type

logger = logging.getLogger(__name__)


def start_regroup(deployment: Deployment, user: AbstractBaseUser | None) -> tuple[Job, bool]:
    """Queue a regroup of the deployment, or return the one already active.

    Returns the job and whether it was created now.
    """
    return _start(REGROUP_JOB, deployment.project, user, deployment=deployment)


def start_populate(
    collection: SourceImageCollection, user: AbstractBaseUser | None
) -> tuple[Job, bool]:
    return _start(POPULATE_JOB, collection.project, user, source_image_collection=collection)


def _start(
    key: str, project: Project, user: AbstractBaseUser | None, **target: Any
) -> tuple[Job, bool]:
    same_work = Job.objects.filter(job_type_key=key, **target)
    reap_stale_jobs(same_work)
    job = Job(
        job_type_key=key,
        project=project,
        created_by=user if user and user.is_authenticated else None,
        status=JobStatus.PENDING,
        task_id=str(uuid.uuid4()),
        heartbeat_at=timezone.now(),
        **target,
    )
    job.name = get_job_type(key).describe(job)
    try:
        with transaction.atomic():
            job.save()
            job.log(f"Queued by {_who(user)}.")
            _dispatch_on_commit(job)
    except IntegrityError:
        # The database allows one active job per target: someone (or another tab) won.
        active = same_work.filter(status__in=ACTIVE_STATUSES).first()
        if active is None:
            raise
        return active, False
    return job, True


def cancel_job(job: Job, user: AbstractBaseUser | None) -> Job:
    """Stop a job: at once if no worker has it yet, else at its next safe point."""
    who = _who(user)
    if Job.objects.filter(pk=job.pk, status__in=[JobStatus.CREATED, JobStatus.PENDING]).update(
        status=JobStatus.REVOKED, finished_at=timezone.now(), updated_at=timezone.now()
    ):
        job.log(f"Cancelled by {who} before it started.", JobLog.Level.WARNING)
    elif Job.objects.filter(pk=job.pk, status=JobStatus.STARTED).update(
        status=JobStatus.CANCELLING, updated_at=timezone.now()
    ):
        job.log(f"Cancel asked by {who}; stopping at the next safe point.", JobLog.Level.WARNING)
    job.refresh_from_db()
    return job


def retry_job(job: Job, user: AbstractBaseUser | None) -> tuple[Job, bool]:
    """Run a failed or cancelled job again, as a new run of the same job.

    If the same work is already active (another job on the same target), return that
    one instead: there is never more than one. Returns the job and whether it was queued.
    """
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
                updated_at=timezone.now(),
            )
            job.refresh_from_db()
            if queued:
                job.log(f"Retried by {_who(user)}.")
                _dispatch_on_commit(job)
    except IntegrityError:
        active = (
            Job.objects.active()
            .filter(
                job_type_key=job.job_type_key,
                deployment=job.deployment_id,
                source_image_collection=job.source_image_collection_id,
            )
            .first()
        )
        if active is None:
            raise
        return active, False
    return job, bool(queued)


def reap_stale_jobs(jobs=None) -> int:
    """Fail active jobs that have shown no sign of life for too long, so they can be retried."""
    now = timezone.now()
    reaped = 0
    for job in (jobs if jobs is not None else Job.objects.all()).stale(now):
        if (
            Job.objects.stale(now)
            .filter(pk=job.pk)
            .update(status=JobStatus.FAILURE, finished_at=now, updated_at=now)
        ):
            reaped += 1
            quiet_since = timezone.localtime(job.heartbeat_at).strftime("%Y-%m-%d %H:%M:%S")
            job.log(
                f"No sign of life from a worker since {quiet_since} (the worker was stopped "
                "or no worker is running). Marked failed; Retry runs it again and completes "
                "the work.",
                JobLog.Level.ERROR,
            )
    return reaped


def _dispatch_on_commit(job: Job) -> None:
    from .tasks import run_job

    transaction.on_commit(lambda: run_job.apply_async((job.pk,), task_id=job.task_id))


def _who(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user and user.is_authenticated else "the system"
