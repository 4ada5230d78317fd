"""Run one job on a worker, recording every status change, and keep it alive or reap it.

A job's message is acknowledged late, so a broker may deliver it again after a worker
died, and the reaper queues a job again when its worker goes quiet. The job row decides
what happens to each message: a final job is not run again, a job another live worker is
running is left alone, and a job whose worker went quiet is resumed (the work is
idempotent, so a rerun completes it), within the same bounds as the reaper's.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .actions import end_silent_run
from .family import settle_parent_of
from .job_type import JobContext, JobError, JobStopped
from .models import FINAL_STATUSES, RUNNING_STATUSES, Job, JobLog, JobStatus
from .registry import get_job_type
from .reporter import ProgressReporter

logger = logging.getLogger(__name__)


def run_job(job_id: int) -> None:
    job = _claim(job_id)
    if job is None:
        return
    job_type = get_job_type(job.job_type_key)
    context = JobContext(
        job=job, progress=ProgressReporter(job), should_stop=lambda: _should_stop(job)
    )
    try:
        with _heartbeat(job):
            result = job_type.run(context)
    except JobStopped as stopped:
        _finish(job, JobStatus.REVOKED, str(stopped), JobLog.Level.WARNING)
    except JobError as error:
        _finish(job, JobStatus.FAILURE, str(error), JobLog.Level.ERROR)
    except Exception as error:  # any crash must end the job, visibly
        logger.exception("Job %s failed", job.pk)
        job.log(traceback.format_exc(limit=8), JobLog.Level.ERROR)
        _finish(job, JobStatus.FAILURE, f"Failed: {error}", JobLog.Level.ERROR)
    else:
        _finish(job, JobStatus.SUCCESS, "Finished.", JobLog.Level.INFO, result=result)


def _claim(job_id: int) -> Job | None:
    """Mark the job started, unless it must not run; return it if this worker runs it."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("Job %s does not exist; nothing to run.", job_id)
            return None
        if job.status in FINAL_STATUSES:
            logger.info("Job %s is %s; not running it again.", job_id, job.status)
            return None
        resumed = job.status in RUNNING_STATUSES
        if resumed:
            # A copy of the message, redelivered by the broker: run it only if the worker
            # that had it went quiet, and as the reaper would (bounded, not if cancelled).
            if not Job.objects.stale(now).filter(pk=job.pk).exists():
                logger.info("Job %s is running on a live worker; ignoring a redelivery.", job_id)
                return None
            if end_silent_run(job, now):
                return None
            job.recoveries += 1
        job.status = JobStatus.STARTED
        job.started_at = job.started_at if resumed else now
        job.heartbeat_at = now
        job.attempts += 1
        job.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "attempts",
                "recoveries",
                "updated_at",
            ]
        )
    where = socket.gethostname()
    if resumed:
        job.log(
            f"Resumed on {where} after its worker stopped answering (run {job.attempts}; "
            f"{job.runs_since_queued} of at most {settings.JOBS_MAX_ATTEMPTS} since it was "
            "queued)."
        )
    else:
        job.log(f"Started on {where} (run {job.attempts}).")
    return job


def _this_run(job: Job):
    """The job's row while this run is still the job's run: the reaper gives a job whose
    worker it took for dead a new message (task id), or ends it."""
    return Job.objects.filter(pk=job.pk, task_id=job.task_id, status__in=RUNNING_STATUSES)


def _should_stop(job: Job) -> bool:
    """Stop at the next safe point when a cancel was asked, or when this run is no longer
    the job's (its worker was only slow, and another run has taken over or will)."""
    return not _this_run(job).filter(status=JobStatus.STARTED).exists()


def _finish(job: Job, status: str, message: str, level: str, result: dict | None = None) -> None:
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "heartbeat_at": now, "updated_at": now}
    if result is not None:
        fields["result"] = result
    with transaction.atomic():
        # Read the job's status first, holding its row, so that the log names the status
        # that kept this run from setting its own, not whatever the job has by then.
        marked = JobStatus(
            Job.objects.select_for_update().values_list("status", flat=True).get(pk=job.pk)
        )
        # Only while this run is the job's: if the reaper queued it again or ended it
        # meanwhile (and perhaps another run or a retry started), its status is no longer
        # ours to set.
        if not _this_run(job).update(**fields):
            message = (
                f"This run ended after the job had been marked {marked.label.lower()}: {message}"
            )
        job.log(message, level)
        settle_parent_of(job)
    job.refresh_from_db()


@contextmanager
def _heartbeat(job: Job) -> Iterator[None]:
    """Beat every JOBS_HEARTBEAT_SECONDS from a thread while the job runs.

    Long single statements (a big relink) report no progress; the beat still shows the
    worker is alive. A killed worker stops beating, and the reaper notices.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOBS_HEARTBEAT_SECONDS):
                try:
                    _this_run(job).update(heartbeat_at=timezone.now())
                except Exception:  # a busy database: try again at the next beat
                    logger.warning("Heartbeat of job %s failed", job.pk, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-{job.pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
