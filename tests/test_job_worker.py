"""Jobs through the configured broker and a real worker process, faults included."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.db import connection

from jobs import actions
from jobs.models import Job, JobStatus
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment, SourceImage, SourceImageCollection
from tests.test_grouping import add_captures, nights
from tests.worker_process import CeleryWorker, running_worker

pytestmark = pytest.mark.worker

UNGROUPED = 600 * 6


@pytest.fixture
def slow_regroup(monkeypatch):
    """One session a chunk and a save per chunk, so a test can act while the regroup runs.

    Set in the environment before the worker starts, so the worker's settings read them.
    """
    monkeypatch.setenv("REGROUP_CHUNK_CAPTURES", "1")
    monkeypatch.setenv("JOBS_PROGRESS_SAVE_SECONDS", "0")
    monkeypatch.setenv("JOBS_HEARTBEAT_SECONDS", "0.5")


@pytest.fixture
def big_night_block(deployment: Deployment) -> Deployment:
    """700 short nights, the first 100 grouped and the last 600 never grouped."""
    add_captures(deployment, nights(0, 100))
    regroup_deployment(deployment)
    add_captures(deployment, nights(100, 600))
    deployment.update_calculated_fields()
    assert deployment.source_images_without_event_count == UNGROUPED
    return deployment


def job_status(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def done_so_far(job: Job) -> int:
    stages = Job.objects.get(pk=job.pk).progress.get("stages") or [{}]
    return stages[0].get("done") or 0


def wait_until_final(worker: CeleryWorker, job: Job, timeout: float = 60) -> Job:
    worker.wait_for(
        lambda: job_status(job) in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED),
        timeout=timeout,
        what=f"job {job.pk} to end",
    )
    job.refresh_from_db()
    return job


def grouped_sessions(deployment: Deployment) -> dict[int, int | None]:
    return dict(SourceImage.objects.filter(deployment=deployment).values_list("pk", "event_id"))


def test_a_regroup_job_succeeds_on_a_worker_and_a_double_click_runs_it_once(
    live_worker, big_night_block, manager
):
    job, created = actions.start_regroup(big_night_block, manager)
    same, created_again = actions.start_regroup(big_night_block, manager)

    job = wait_until_final(live_worker, job)

    assert (created, created_again, same.pk) == (True, False, job.pk)
    assert job.status == JobStatus.SUCCESS
    assert job.attempts == 1
    stats = job.progress["stages"][0]["stats"]
    assert stats["Captures grouped"] == UNGROUPED
    assert stats["Sessions created"] == 600
    assert (
        sum(line.startswith("Started") for line in job.logs.values_list("message", flat=True)) == 1
    )
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0
    assert Job.objects.count() == 1


def test_a_failing_job_ends_failed_with_the_error_in_its_log(live_worker, project, manager):
    capture_set = SourceImageCollection.objects.create(
        project=project, name="Broken", method="random", kwargs={"size": -3}
    )
    job, _ = actions.start_populate(capture_set, manager)

    job = wait_until_final(live_worker, job)

    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == "The parameter 'size' must be a positive whole number."


def test_cancel_mid_run_leaves_consistent_data_and_retry_completes(
    slow_regroup, live_worker, big_night_block, manager
):
    before = grouped_sessions(big_night_block)
    job, _ = actions.start_regroup(big_night_block, manager)
    live_worker.wait_for(lambda: done_so_far(job) > 0, what="the regroup to make progress")

    actions.cancel_job(job, manager)
    job = wait_until_final(live_worker, job)

    assert job.status == JobStatus.REVOKED
    assert "Stopped at a safe point" in job.logs.last().message
    stopped_at = done_so_far(job)
    assert 0 < stopped_at < UNGROUPED
    after = grouped_sessions(big_night_block)
    # Nights grouped before the job kept their sessions; the cancelled run only added some.
    assert all(after[pk] == event for pk, event in before.items() if event is not None)
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == UNGROUPED - stopped_at

    actions.retry_job(job, manager)
    job = wait_until_final(live_worker, job)

    assert job.status == JobStatus.SUCCESS
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0


def test_a_worker_killed_mid_regroup_is_reaped_and_a_retry_completes(
    slow_regroup, transactional_db, big_night_block, manager, settings, tmp_path: Path
):
    settings.JOBS_STALE_AFTER_SECONDS = 3
    before = grouped_sessions(big_night_block)
    with running_worker(connection.settings_dict, tmp_path / "first") as worker:
        job, _ = actions.start_regroup(big_night_block, manager)
        worker.wait_for(lambda: done_so_far(job) > 0, what="the regroup to make progress")
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(timeout=10)
    assert job_status(job) == JobStatus.STARTED

    # Nobody beats for the job any more: the reaper fails it once it has been quiet long
    # enough, so it does not stay "running" forever.
    time.sleep(settings.JOBS_STALE_AFTER_SECONDS + 0.5)
    assert actions.reap_stale_jobs() == 1
    assert job_status(job) == JobStatus.FAILURE
    after_crash = grouped_sessions(big_night_block)
    assert all(after_crash[pk] == event for pk, event in before.items() if event is not None)

    with running_worker(connection.settings_dict, tmp_path / "second") as worker:
        actions.retry_job(job, manager)
        job = wait_until_final(worker, job)

    assert job.status == JobStatus.SUCCESS
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0
    after_retry = grouped_sessions(big_night_block)
    assert all(after_retry[pk] == event for pk, event in before.items() if event is not None)
    assert big_night_block.events_count == 700
