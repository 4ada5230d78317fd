"""Jobs in process: starting once, running, failing, cancelling, retrying, reaping."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs import actions
from jobs.models import REGROUP_JOB, Job, JobStatus
from jobs.progress import Stage
from jobs.runner import run_job
from monitoring.models import Event, SourceImage, SourceImageCollection
from tests.test_grouping import add_captures, nights

pytestmark = pytest.mark.django_db


@pytest.fixture
def ungrouped(deployment):
    """A deployment with ten nights of captures, none grouped yet."""
    captures = add_captures(deployment, nights(0, 10))
    deployment.update_calculated_fields()
    return captures


def messages(job: Job) -> list[str]:
    return list(job.logs.values_list("message", flat=True))


def stage(job: Job) -> dict:
    job.refresh_from_db()
    return job.progress["stages"][0]


def test_a_second_start_returns_the_active_job_and_dispatches_once(
    deployment, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as dispatched:
        first, created = actions.start_regroup(deployment, manager)
        again, created_again = actions.start_regroup(deployment, manager)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    assert len(dispatched) == 1
    assert first.status == JobStatus.PENDING
    assert first.name == "Regroup sessions of Station A"
    assert messages(first) == ["Queued by manager."]


@pytest.mark.django_db(transaction=True)
def test_two_users_clicking_at_once_get_one_job(deployment, manager, member):
    results: list[Job] = []
    barrier = threading.Barrier(2)

    def click(user):
        try:
            barrier.wait(timeout=10)
            results.append(actions.start_regroup(deployment, user)[0])
        finally:
            connection.close()

    clicks = [threading.Thread(target=click, args=(user,)) for user in (manager, member)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()

    assert len(results) == 2
    assert results[0].pk == results[1].pk
    assert Job.objects.filter(job_type_key=REGROUP_JOB).count() == 1


def test_a_regroup_job_runs_to_success_with_statistics(deployment, manager, ungrouped):
    job, _ = actions.start_regroup(deployment, manager)

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert job.started_at <= job.finished_at
    assert job.attempts == 1
    progress = stage(job)
    assert (progress["done"], progress["total"], progress["unit"]) == (60, 60, "captures")
    assert progress["stats"]["Sessions created"] == 10
    assert progress["stats"]["Captures grouped"] == 60
    assert job.result["captures_grouped"] == 60
    log = messages(job)
    assert log[1].startswith("Started on ")
    assert "Grouped 60 captures: 10 sessions created" in log[-2]
    assert log[-1] == "Finished."
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0


def test_progress_is_saved_at_most_every_interval(deployment, manager, ungrouped, settings):
    settings.REGROUP_CHUNK_CAPTURES = 6
    settings.JOBS_PROGRESS_SAVE_SECONDS = 3600
    saves: list[int] = []
    original = Stage.update

    def counting_update(self, done, total):
        original(self, done, total)
        saves.append(self.progress.saves)

    job, _ = actions.start_regroup(deployment, manager)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Stage, "update", counting_update)
        run_job(job.pk)

    # Eleven reports (the start and ten chunks), but only the stage's start was saved in
    # between; the finish saves the rest.
    assert len(saves) == 11
    assert saves[-1] == 1
    assert stage(job)["done"] == 60


def test_a_crash_in_the_work_fails_the_job_with_the_error_in_its_log(
    deployment, manager, ungrouped, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("jobs.regroup.regroup_deployment", broken)
    job, _ = actions.start_regroup(deployment, manager)

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert job.finished_at is not None
    assert job.last_error().message == "Failed: the disk is full"
    assert any("RuntimeError" in line for line in messages(job))


def test_cancel_before_a_worker_starts_it(deployment, manager, ungrouped):
    job, _ = actions.start_regroup(deployment, manager)

    actions.cancel_job(job, manager)
    run_job(job.pk)  # the message arrives anyway

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert "Cancelled by manager before it started." in messages(job)
    assert not any(line.startswith("Started") for line in messages(job))
    assert not SourceImage.objects.filter(event__isnull=False).exists()


def test_cancel_mid_run_stops_at_a_safe_point_and_retry_completes(
    deployment, manager, ungrouped, settings, monkeypatch
):
    settings.REGROUP_CHUNK_CAPTURES = 6
    job, _ = actions.start_regroup(deployment, manager)
    original = Stage.update

    def cancel_after_two_chunks(self, done, total):
        original(self, done, total)
        if done == 12:
            actions.cancel_job(Job.objects.get(pk=job.pk), manager)

    monkeypatch.setattr(Stage, "update", cancel_after_two_chunks)
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert messages(job)[-1].startswith("Stopped at a safe point after grouping 12 of 60")
    grouped = SourceImage.objects.filter(deployment=deployment, event__isnull=False)
    assert grouped.count() == 12
    assert Event.objects.filter(deployment=deployment).count() == 2
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 48

    monkeypatch.setattr(Stage, "update", original)
    retried, queued = actions.retry_job(job, manager)
    assert queued and retried.pk == job.pk and retried.status == JobStatus.PENDING
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert job.attempts == 2
    assert "Retried by manager." in messages(job)
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0
    assert deployment.events_count == 10


def test_retry_only_applies_to_failed_or_cancelled_jobs(deployment, manager, ungrouped):
    job, _ = actions.start_regroup(deployment, manager)
    run_job(job.pk)

    again, queued = actions.retry_job(job, manager)

    assert not queued
    assert again.status == JobStatus.SUCCESS


def test_retry_while_the_same_work_is_active_returns_that_job(deployment, manager):
    failed, _ = actions.start_regroup(deployment, manager)
    Job.objects.filter(pk=failed.pk).update(status=JobStatus.FAILURE)
    running, created = actions.start_regroup(deployment, manager)
    assert created

    returned, queued = actions.retry_job(failed, manager)

    assert (returned.pk, queued) == (running.pk, False)
    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILURE


def test_the_reaper_fails_jobs_whose_worker_went_quiet(deployment, manager, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    job, _ = actions.start_regroup(deployment, manager)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.STARTED, heartbeat_at=timezone.now() - timedelta(seconds=61)
    )
    alive, _ = actions.start_populate(
        SourceImageCollection.objects.create(project=deployment.project, name="Sample"), manager
    )

    assert actions.reap_stale_jobs() == 1

    job.refresh_from_db()
    alive.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert "No sign of life from a worker" in job.last_error().message
    assert alive.status == JobStatus.PENDING
    # A late redelivery of the reaped job's message does nothing.
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE


def test_a_crashed_job_never_blocks_a_new_regroup(deployment, manager, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    crashed, _ = actions.start_regroup(deployment, manager)
    Job.objects.filter(pk=crashed.pk).update(
        status=JobStatus.STARTED, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    fresh, created = actions.start_regroup(deployment, manager)

    assert created and fresh.pk != crashed.pk
    crashed.refresh_from_db()
    assert crashed.status == JobStatus.FAILURE


def test_a_redelivered_message_resumes_a_crashed_run_but_not_a_live_one(
    deployment, manager, ungrouped, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    job, _ = actions.start_regroup(deployment, manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.STARTED, heartbeat_at=timezone.now())

    run_job(job.pk)  # a live worker has it: the duplicate delivery is ignored
    job.refresh_from_db()
    assert job.status == JobStatus.STARTED and job.attempts == 0

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert any(line.startswith("Resumed on ") for line in messages(job))


@pytest.fixture
def capture_set(project, ungrouped):
    return SourceImageCollection.objects.create(
        project=project, name="Sample", method="interval", kwargs={"every": 10}
    )


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("interval", {"every": 10}, 6),
        ("random", {"size": 7}, 7),
        ("date_range", {"start": "2024-06-02", "end": "2024-06-03"}, 12),
    ],
)
def test_populate_fills_the_capture_set_by_its_method(
    capture_set, manager, method, params, expected
):
    capture_set.method, capture_set.kwargs = method, params
    capture_set.save()
    job, _ = actions.start_populate(capture_set, manager)

    run_job(job.pk)

    job.refresh_from_db()
    capture_set.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert capture_set.source_images_count == capture_set.images.count() == expected
    assert stage(job)["stats"] == {"Captures in the set": expected}


def test_populate_with_bad_parameters_fails_clearly_and_changes_nothing(capture_set, manager):
    capture_set.kwargs = {"every": "ten"}
    capture_set.save()
    job, _ = actions.start_populate(capture_set, manager)

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == "The parameter 'every' must be a positive whole number."
    assert capture_set.images.count() == 0
