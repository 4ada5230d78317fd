"""The Add captures job through the configured broker and a real worker process: the whole
job, and a cancel between import chunks that Retry goes on from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile

from jobs import actions
from jobs.add_captures import ADD_CAPTURES_JOB, params_for
from jobs.models import Job, JobStatus
from monitoring.capture_uploads import store_upload, upload_exists
from monitoring.models import Deployment, SourceImage
from tests.factories import job_status
from tests.worker_process import CeleryWorker

NIGHTS = 30
PER_NIGHT = 4


def night_file() -> str:
    first = datetime(2024, 6, 1, 21, tzinfo=UTC)
    rows = (
        f"night{night:02d}/{shot}.jpg,"
        f"{(first + timedelta(days=night, minutes=10 * shot)).isoformat()}\n"
        for night in range(NIGHTS)
        for shot in range(PER_NIGHT)
    )
    return "path,timestamp\n" + "".join(rows)


def start_job(deployment: Deployment, manager) -> Job:
    stored = store_upload(
        ContentFile(night_file().encode(), name="nights.csv"),
        deployment.pk,
        max_bytes=10_000_000,
        max_rows=10_000,
    )
    job, _ = actions.start(
        ADD_CAPTURES_JOB, deployment, manager, params=params_for(stored, "nights.csv")
    )
    return job


def wait_until_final(worker: CeleryWorker, job: Job) -> Job:
    worker.wait_for(
        lambda: job_status(job) in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED),
        timeout=60,
        what=f"job {job.pk} to end",
    )
    job.refresh_from_db()
    return job


def test_the_whole_job_runs_on_a_worker(live_worker, deployment, manager):
    job = wait_until_final(live_worker, start_job(deployment, manager))

    assert job.status == JobStatus.SUCCESS, list(job.logs.values_list("message", flat=True))
    assert job.result["added"] == NIGHTS * PER_NIGHT
    assert job.result["sessions"] == NIGHTS
    deployment.refresh_from_db()
    assert (deployment.events_count, deployment.source_images_without_event_count) == (NIGHTS, 0)
    assert not upload_exists(job.params["file"])


@pytest.fixture
def paused_mid_import(monkeypatch, start_worker):
    """Imports of 10 rows a chunk; the job waits after the import's second chunk (the first
    stage to report two: the check of a small file reports once) until released."""
    monkeypatch.setenv("CAPTURE_IMPORT_CHUNK_ROWS", "10")
    with start_worker("worker", pause_after_chunk=2) as worker:
        yield worker


def test_a_cancel_between_chunks_keeps_them_and_retry_goes_on(
    paused_mid_import, deployment, manager
):
    worker = paused_mid_import
    job = start_job(deployment, manager)
    worker.wait_until_paused()

    actions.cancel_job(job, manager)
    worker.release()
    job = wait_until_final(worker, job)

    assert job.status == JobStatus.REVOKED
    assert SourceImage.objects.filter(deployment=deployment).count() == 20
    assert upload_exists(job.params["file"])

    actions.retry_job(job, manager)
    job = wait_until_final(worker, job)

    assert job.status == JobStatus.SUCCESS
    assert (job.result["added"], job.result["already_there"]) == (NIGHTS * PER_NIGHT, 0)
    assert SourceImage.objects.filter(deployment=deployment).count() == NIGHTS * PER_NIGHT
