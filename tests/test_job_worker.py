"""Jobs through the configured broker and a real worker process, faults included.

A test that acts mid-run (cancels, kills the worker) starts a worker whose job pauses
after its first chunk until the test releases it: the job is mid-run for as long as the
test needs, however fast the machine.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import actions
from jobs.models import POPULATE_JOB, REGROUP_JOB, Job, JobStatus
from jobs.runner import run_job
from jobs.tasks import run_job as run_job_task
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment, Event, SourceImage, SourceImageCollection
from tests.factories import add_nights, job_status
from tests.worker_process import CeleryWorker

UNGROUPED = 600 * 6


@pytest.fixture
def chunks_of_100_nights(monkeypatch):
    """Regroups write 100 nights (600 captures) a chunk: the 600 ungrouped nights take six,
    so a job paused after its first has more to do.

    Set in the environment before a worker starts, so the worker's settings read it.
    """
    monkeypatch.setenv("REGROUP_CHUNK_CAPTURES", "600")


@pytest.fixture
def big_night_block(deployment: Deployment) -> Deployment:
    """700 short nights, the first 100 grouped and the last 600 never grouped."""
    add_nights(deployment, grouped=100, ungrouped=600)
    assert deployment.source_images_without_event_count == UNGROUPED
    return deployment


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
    job, created = actions.start(REGROUP_JOB, big_night_block, manager)
    same, created_again = actions.start(REGROUP_JOB, big_night_block, manager)

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
    job, _ = actions.start(POPULATE_JOB, capture_set, manager)

    job = wait_until_final(live_worker, job)

    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == "The parameter 'size' must be a positive whole number."


@pytest.fixture
def paused_after_a_chunk(chunks_of_100_nights, start_worker) -> Iterator[CeleryWorker]:
    """A live worker whose job pauses after its first chunk until the test releases it."""
    with start_worker("worker", pause_after_chunk=1) as worker:
        yield worker


def test_cancel_mid_run_leaves_consistent_data_and_retry_completes(
    paused_after_a_chunk, big_night_block, manager
):
    worker = paused_after_a_chunk
    before = grouped_sessions(big_night_block)
    job, _ = actions.start(REGROUP_JOB, big_night_block, manager)
    worker.wait_until_paused()
    assert done_so_far(job) > 0

    actions.cancel_job(job, manager)
    worker.release()
    job = wait_until_final(worker, job)

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
    job = wait_until_final(worker, job)

    assert job.status == JobStatus.SUCCESS
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0


@pytest.fixture
def twin(big_night_block: Deployment) -> Deployment:
    """Another deployment with the same captures and the same history, regrouped in one go
    without faults: what any regroup of the first must end with."""
    twin = Deployment.objects.create(project=big_night_block.project, name="Station A twin")
    add_nights(twin, grouped=100, ungrouped=600)
    regroup_deployment(twin)
    twin.refresh_from_db()
    return twin


def sessions_by_time(deployment: Deployment) -> list[tuple]:
    """Each session's start, end and capture count, and which timestamps it holds."""
    sessions = Event.objects.filter(deployment=deployment).order_by("start")
    members = SourceImage.objects.filter(deployment=deployment).order_by("timestamp")
    return [
        *sessions.values_list("start", "end", "captures_count"),
        *members.values_list("timestamp", "event__start"),
    ]


def kill_mid_run(worker: CeleryWorker, job: Job, runs: int = 1) -> None:
    """SIGKILL the worker (started with `pause_after_chunk`) while the job's `runs`th run
    waits after grouping some."""
    worker.wait_until_paused()
    assert Job.objects.filter(pk=job.pk, attempts=runs, status=JobStatus.STARTED).exists()
    assert done_so_far(job) > 0
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=10)
    assert job_status(job) == JobStatus.STARTED


def silent_for_long(job: Job) -> None:
    """As the dead worker's job looks once the stale time has passed (no waiting for it)."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def runs_logged(job: Job) -> list[str]:
    return [
        line
        for line in job.logs.values_list("message", flat=True)
        if line.startswith(("Started on", "Resumed on"))
    ]


@pytest.fixture
def workers_see_the_dead(monkeypatch):
    """Workers beat every 0.5 s and judge a run silent after 10 s: twenty missed beats, so
    a busy machine never makes a live run look dead, and an hour-old beat is dead to them
    at once."""
    monkeypatch.setenv("JOBS_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("JOBS_STALE_AFTER_SECONDS", "10")


def test_a_worker_killed_mid_regroup_is_recovered_with_no_one_acting(
    chunks_of_100_nights, workers_see_the_dead, start_worker, big_night_block, twin, manager
):
    before = grouped_sessions(big_night_block)
    with start_worker("first", pause_after_chunk=1) as worker:
        job, _ = actions.start(REGROUP_JOB, big_night_block, manager)
        kill_mid_run(worker, job)
    killed_message = Job.objects.get(pk=job.pk).task_id
    after_crash = grouped_sessions(big_night_block)
    assert all(after_crash[pk] == event for pk, event in before.items() if event is not None)

    with start_worker("second") as second, start_worker("third") as third:
        silent_for_long(job)
        # What beat does every JOBS_REAP_EVERY_SECONDS: the job is queued again (to the
        # third worker's queue, the one tasks go to now)...
        assert actions.reap_stale_jobs() == 1
        # ...while the broker hands the killed run's message out again, to the second: only
        # one of the two may run the job.
        run_job_task.apply_async((job.pk,), task_id=killed_message, queue=second.queue)
        job = wait_until_final(third, job)
        second.wait_for(
            lambda: f"run_job[{killed_message}] succeeded" in second.log(),
            what="the second worker to handle the redelivered message",
        )

    assert job.status == JobStatus.SUCCESS
    assert (job.attempts, job.recoveries) == (2, 1)
    assert len(runs_logged(job)) == 2  # the killed run and one recovery, never two
    assert "Queued again automatically: run 2 of at most 3." in " ".join(
        job.logs.values_list("message", flat=True)
    )
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0
    assert big_night_block.events_count == twin.events_count == 700
    assert sessions_by_time(big_night_block) == sessions_by_time(twin)
    after = grouped_sessions(big_night_block)
    # Sessions made before the job keep their ids through the crash and the recovery.
    assert all(after[pk] == event for pk, event in before.items() if event is not None)


def test_a_job_whose_workers_keep_dying_ends_failed_with_retry_available(
    chunks_of_100_nights,
    workers_see_the_dead,
    start_worker,
    big_night_block,
    manager,
    client,
    settings,
    monkeypatch,
):
    settings.JOBS_MAX_ATTEMPTS = 2
    monkeypatch.setenv("JOBS_MAX_ATTEMPTS", "2")
    with start_worker("first", pause_after_chunk=1) as worker:
        job, _ = actions.start(REGROUP_JOB, big_night_block, manager)
        kill_mid_run(worker, job)
    with start_worker("second", pause_after_chunk=1) as worker:
        silent_for_long(job)
        assert actions.reap_stale_jobs() == 1
        kill_mid_run(worker, job, runs=2)

    silent_for_long(job)
    assert actions.reap_stale_jobs() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.can_retry
    assert "That was its run 2 of at most 2: marked failed rather than run again." in (
        job.last_error().message
    )
    client.force_login(manager)
    page = client.get(big_night_block.get_absolute_url()).text
    assert "The last run failed" in page
    assert "No sign of life from its worker since" in page
    assert ">Retry</button>" in page

    # A manager's Retry runs it once more and completes the work.
    client.post(reverse("deployment-regroup-retry", args=[job.project_id, big_night_block.pk]))
    job.refresh_from_db()
    assert (job.status, job.recoveries) == (JobStatus.PENDING, 0)
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    big_night_block.refresh_from_db()
    assert big_night_block.source_images_without_event_count == 0
    assert big_night_block.events_count == 700
