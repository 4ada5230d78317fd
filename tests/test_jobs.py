"""Jobs in process: starting once, running, failing, cancelling, retrying, reaping."""

from __future__ import annotations

import runpy
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import config.settings as settings_module
from jobs import actions
from jobs.job_type import JobContext, JobType, NothingToDo
from jobs.models import (
    ACTIVE_STATUSES,
    POPULATE_JOB,
    REGROUP_JOB,
    TARGET_FIELDS,
    Job,
    JobQuerySet,
    JobStatus,
)
from jobs.progress import JobProgress, StageProgress
from jobs.registry import JOB_TYPES
from jobs.reporter import StageReporter
from jobs.runner import run_job
from monitoring.models import Deployment, Event, Project, SourceImage, SourceImageCollection
from tests.factories import add_captures, add_nights, job_status, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_ungrouped_nights(deployment) -> Deployment:
    """The deployment with ten nights of captures, none grouped yet."""
    return add_nights(deployment, ungrouped=10)


def messages(job: Job) -> list[str]:
    return list(job.logs.values_list("message", flat=True))


def stage(job: Job) -> dict:
    job.refresh_from_db()
    return job.progress["stages"][0]


def test_a_second_start_returns_the_active_job_and_dispatches_once(
    deployment, manager, ten_ungrouped_nights, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as dispatched:
        first, created = actions.start(REGROUP_JOB, deployment, manager)
        again, created_again = actions.start(REGROUP_JOB, deployment, manager)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    assert len(dispatched) == 1
    assert first.status == JobStatus.PENDING
    assert first.name == "Regroup sessions of Station A"
    assert messages(first) == ["Queued by manager."]


@pytest.mark.django_db(transaction=True)
def test_two_users_clicking_at_once_get_one_job(deployment, manager, member, ten_ungrouped_nights):
    results: list[Job] = []
    barrier = threading.Barrier(2)

    def click(user):
        try:
            barrier.wait(timeout=10)
            results.append(actions.start(REGROUP_JOB, deployment, user)[0])
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


# Job types


def count_ungrouped(context: JobContext) -> dict[str, Any]:
    return {"ungrouped": context.job.deployment.source_images_without_event_count}


@pytest.fixture
def counting_type(monkeypatch) -> JobType:
    """A job type defined in one place and listed with the others, as a new type is."""
    job_type = JobType(
        key="count_ungrouped",
        name="Count ungrouped captures",
        target=Deployment,
        run=count_ungrouped,
        describe=lambda job: f"Count ungrouped captures of {job.deployment}",
    )
    monkeypatch.setitem(JOB_TYPES, job_type.key, job_type)
    return job_type


def test_a_new_job_type_starts_once_per_target_and_runs(
    deployment, manager, ten_ungrouped_nights, counting_type
):
    job, created = actions.start(counting_type.key, deployment, manager)
    again, created_again = actions.start(counting_type, deployment, manager)
    regroup, regroup_created = actions.start(REGROUP_JOB, deployment, manager)

    assert (created, created_again, regroup_created) == (True, False, True)
    assert again.pk == job.pk != regroup.pk
    assert job.name == "Count ungrouped captures of Station A"
    run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.result) == (JobStatus.SUCCESS, {"ungrouped": 60})


@pytest.mark.parametrize("key", sorted(JOB_TYPES))
def test_the_database_keeps_one_active_job_of_each_type_per_target(key, deployment):
    job_type = JOB_TYPES[key]
    capture_set = SourceImageCollection.objects.create(project=deployment.project, name="Sample")
    target = {
        Deployment: deployment,
        SourceImageCollection: capture_set,
        Project: deployment.project,
    }[job_type.target]

    def add(status: str) -> Job:
        return Job.objects.create(
            job_type_key=key,
            status=status,
            **{"project": deployment.project, TARGET_FIELDS[job_type.target]: target},
        )

    for status in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED, JobStatus.PENDING):
        add(status)
    for status in ACTIVE_STATUSES:
        with pytest.raises(IntegrityError), transaction.atomic():
            add(status)


def test_a_job_type_refuses_a_target_of_another_kind(deployment, manager):
    with pytest.raises(TypeError, match="^Populate capture set runs on a SourceImageCollection"):
        actions.start(POPULATE_JOB, deployment, manager)
    assert not Job.objects.exists()


def test_a_regroup_job_runs_to_success_with_statistics(deployment, manager, ten_ungrouped_nights):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)

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


def test_progress_is_saved_at_most_every_interval(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.REGROUP_CHUNK_CAPTURES = 6
    settings.JOBS_PROGRESS_SAVE_SECONDS = 3600
    saves: list[int] = []
    original = StageReporter.update

    def counting_update(self, done, total):
        original(self, done, total)
        saves.append(self.reporter.saves)

    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StageReporter, "update", counting_update)
        run_job(job.pk)

    # Eleven reports (the start and ten chunks), but only the stage's start was saved in
    # between; the finish saves the rest.
    assert len(saves) == 11
    assert saves[-1] == 1
    assert stage(job)["done"] == 60


def test_stage_progress_reads_back_what_it_stored_and_tolerates_older_rows(
    deployment, manager, ten_ungrouped_nights
):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    run_job(job.pk)
    job.refresh_from_db()

    progress = job.stage_progress
    assert progress == JobProgress(
        [
            StageProgress(
                key="regroup",
                name="Group captures into sessions",
                unit="captures",
                status=JobStatus.SUCCESS,
                done=60,
                total=60,
                stats=progress.stages[0].stats,
            )
        ]
    )
    assert progress.stages[0].stats["Sessions created"] == 10
    assert JobProgress.from_json(progress.as_json()) == progress
    assert progress.as_json() == job.progress
    # A row from before a field existed, and one no worker has reported to yet.
    old = JobProgress.from_json({"stages": [{"key": "regroup", "name": "Group", "done": 5}]})
    assert old.stages == [StageProgress(key="regroup", name="Group", done=5)]
    assert old.stages[0].unit == "items" and old.stages[0].status == JobStatus.CREATED
    assert JobProgress.from_json({}) == JobProgress.from_json(None) == JobProgress()


def test_a_crash_in_the_work_fails_the_job_with_the_error_in_its_log(
    deployment, manager, ten_ungrouped_nights, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("jobs.regroup.regroup_deployment", broken)
    job, _ = actions.start(REGROUP_JOB, deployment, manager)

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert job.finished_at is not None
    assert job.last_error().message == "Failed: the disk is full"
    assert any("RuntimeError" in line for line in messages(job))


def test_cancel_before_a_worker_starts_it(deployment, manager, ten_ungrouped_nights):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)

    actions.cancel_job(job, manager)
    run_job(job.pk)  # the message arrives anyway

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert "Cancelled by manager before it started." in messages(job)
    assert not any(line.startswith("Started") for line in messages(job))
    assert not SourceImage.objects.filter(event__isnull=False).exists()


def after_two_chunks(monkeypatch, settings, act: Callable[[], object]) -> Callable[[], None]:
    """Make the regroup write chunks of 6 captures and `act` once it has written two, as a
    person or the reaper acting mid-run would. Returns what undoes it."""
    settings.REGROUP_CHUNK_CAPTURES = 6
    original = StageReporter.update

    def update(self, done, total):
        original(self, done, total)
        if done == 12:
            act()

    monkeypatch.setattr(StageReporter, "update", update)
    return lambda: monkeypatch.setattr(StageReporter, "update", original)


def test_cancel_mid_run_stops_at_a_safe_point_and_retry_completes(
    deployment, manager, ten_ungrouped_nights, settings, monkeypatch
):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    undo = after_two_chunks(
        monkeypatch, settings, lambda: actions.cancel_job(Job.objects.get(pk=job.pk), manager)
    )
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert messages(job)[-1].startswith("Stopped at a safe point after grouping 12 of 60")
    grouped = SourceImage.objects.filter(deployment=deployment, event__isnull=False)
    assert grouped.count() == 12
    assert Event.objects.filter(deployment=deployment).count() == 2
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 48

    undo()
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


def test_retry_only_applies_to_failed_or_cancelled_jobs(deployment, manager, ten_ungrouped_nights):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    run_job(job.pk)

    again, queued = actions.retry_job(job, manager)

    assert not queued
    assert again.status == JobStatus.SUCCESS


def test_retry_while_the_same_work_is_active_returns_that_job(
    deployment, manager, ten_ungrouped_nights
):
    failed, _ = actions.start(REGROUP_JOB, deployment, manager)
    Job.objects.filter(pk=failed.pk).update(status=JobStatus.FAILURE)
    running, created = actions.start(REGROUP_JOB, deployment, manager)
    assert created

    returned, queued = actions.retry_job(failed, manager)

    assert (returned.pk, queued) == (running.pk, False)
    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILURE


def go_silent(job: Job, status: str = JobStatus.STARTED, seconds: float = 61) -> None:
    """As a worker killed mid-run leaves its job: running, its last beat long ago."""
    Job.objects.filter(pk=job.pk).update(
        status=status, heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_the_reaper_queues_a_job_whose_worker_went_quiet_again(
    deployment, manager, ten_ungrouped_nights, settings, django_capture_on_commit_callbacks
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    run_task_id = job.task_id
    go_silent(job)
    waiting, _ = actions.start(
        POPULATE_JOB,
        SourceImageCollection.objects.create(project=deployment.project, name="Sample"),
        manager,
    )
    # Waiting for a worker for long (behind a long job, say) is not silence: none has it.
    go_silent(waiting, JobStatus.PENDING, seconds=3600)

    with django_capture_on_commit_callbacks() as dispatched:
        assert actions.reap_stale_jobs() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert job.recoveries == 1 and job.task_id != run_task_id
    assert len(dispatched) == 1
    assert "Queued again automatically: run 2 of at most 3." in messages(job)[-1]
    assert job_status(waiting) == JobStatus.PENDING
    # A worker takes the new message and completes the work.
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0


def test_after_its_last_run_goes_quiet_a_job_is_failed_and_retry_starts_afresh(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    settings.JOBS_MAX_ATTEMPTS = 2
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    go_silent(job)
    assert actions.reap_stale_jobs() == 1
    assert job_status(job) == JobStatus.PENDING
    go_silent(job)  # the second run's worker dies too

    assert actions.reap_stale_jobs() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.can_retry
    assert "That was its run 2 of at most 2: marked failed rather than run again." in (
        job.last_error().message
    )
    # A person's Retry gets the full number of runs again.
    actions.retry_job(job, manager)
    job.refresh_from_db()
    assert (job.status, job.recoveries) == (JobStatus.PENDING, 0)
    go_silent(job)
    actions.reap_stale_jobs()
    assert job_status(job) == JobStatus.PENDING


def test_a_job_being_cancelled_when_its_worker_went_quiet_ends_cancelled(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    go_silent(job, JobStatus.CANCELLING)

    assert actions.reap_stale_jobs() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED and job.can_retry
    assert "It was being cancelled: marked cancelled." in messages(job)[-1]


def test_a_click_on_regroup_over_a_crashed_job_queues_that_job_again(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    crashed, _ = actions.start(REGROUP_JOB, deployment, manager)
    go_silent(crashed, seconds=3600)

    again, created = actions.start(REGROUP_JOB, deployment, manager)

    assert (again.pk, created) == (crashed.pk, False)
    assert again.status == JobStatus.PENDING
    assert Job.objects.count() == 1


def test_a_redelivered_message_obeys_the_same_bounds_as_the_reaper(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    settings.JOBS_MAX_ATTEMPTS = 1
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    go_silent(job)

    run_job(job.pk)  # the broker hands out the dead run's message again

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert not SourceImage.objects.filter(event__isnull=False).exists()
    cancelled, _ = actions.start(REGROUP_JOB, deployment, manager)
    go_silent(cancelled, JobStatus.CANCELLING)
    run_job(cancelled.pk)
    assert job_status(cancelled) == JobStatus.REVOKED


def test_a_run_taken_for_dead_stops_at_its_next_safe_point_and_leaves_the_job_alone(
    deployment, manager, ten_ungrouped_nights, settings, monkeypatch
):
    """Its worker was only slow: the reaper has queued the job again meanwhile."""
    job, _ = actions.start(REGROUP_JOB, deployment, manager)

    def taken_for_dead() -> None:
        go_silent(job)
        actions.reap_stale_jobs()

    undo = after_two_chunks(monkeypatch, settings, taken_for_dead)
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.PENDING and job.recoveries == 1
    assert messages(job)[-1].startswith(
        "This run ended after the job had been marked waiting for a worker: Stopped at a safe"
    )
    undo()
    run_job(job.pk)  # the message the reaper sent
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0


def test_a_run_whose_job_the_reaper_failed_meanwhile_logs_that_it_was_failed(
    deployment, manager, ten_ungrouped_nights, settings, monkeypatch
):
    """Its worker was only slow, and the job had had its last run: the reaper failed it."""
    settings.JOBS_MAX_ATTEMPTS = 1
    job, _ = actions.start(REGROUP_JOB, deployment, manager)

    def taken_for_dead() -> None:
        go_silent(job)
        actions.reap_stale_jobs()

    after_two_chunks(monkeypatch, settings, taken_for_dead)
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert messages(job)[-1].startswith(
        "This run ended after the job had been marked failed: Stopped at a safe point"
    )


# Races: the winner of the one-active-job constraint may have ended before the loser looks.


@pytest.fixture
def winner_ends_before_the_loser_looks(monkeypatch, deployment, manager):
    """A pending job (the winner) that is cancelled just after another request's insert
    conflicts with it, before that request looks it up: as with a Cancel clicked at the
    same moment. The losing request first saw no active job, as if the winner had not
    committed yet."""
    winner, _ = actions.start(REGROUP_JOB, deployment, manager)
    original = JobQuerySet.active
    looks: list[int] = []

    def active(self):
        looks.append(1)
        if len(looks) == 1:
            return self.none()
        if len(looks) == 2:
            actions.cancel_job(winner, manager)
        return original(self)

    monkeypatch.setattr(JobQuerySet, "active", active)
    return winner


def test_a_start_that_loses_to_a_job_already_ended_queues_a_new_one(
    ten_ungrouped_nights, deployment, member, winner_ends_before_the_loser_looks
):
    job, created = actions.start(REGROUP_JOB, deployment, member)

    assert created and job.pk != winner_ends_before_the_loser_looks.pk
    assert job_status(winner_ends_before_the_loser_looks) == JobStatus.REVOKED
    assert list(Job.objects.filter(status__in=ACTIVE_STATUSES)) == [job]


def test_a_retry_that_loses_to_a_job_already_ended_is_queued(
    ten_ungrouped_nights, deployment, manager, winner_ends_before_the_loser_looks
):
    failed = make_job(deployment, JobStatus.FAILURE)

    job, queued = actions.retry_job(failed, manager)

    assert queued and job.pk == failed.pk and job.status == JobStatus.PENDING
    assert job_status(winner_ends_before_the_loser_looks) == JobStatus.REVOKED
    assert list(Job.objects.filter(status__in=ACTIVE_STATUSES)) == [job]


# Nothing to regroup


def test_regroup_and_retry_with_nothing_to_regroup_queue_nothing(
    deployment, manager, ten_ungrouped_nights
):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    run_job(job.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILURE)

    with pytest.raises(NothingToDo, match="^Nothing to regroup: every capture with"):
        actions.start(REGROUP_JOB, deployment, manager)
    with pytest.raises(NothingToDo):
        actions.retry_job(job, manager)

    assert Job.objects.count() == 1
    assert job_status(job) == JobStatus.FAILURE


def test_a_stale_stored_count_is_corrected_when_there_is_nothing_to_regroup(deployment, manager):
    add_captures(deployment, [None])  # undated: nobody can group it
    deployment.source_images_without_event_count = 5
    deployment.save()

    with pytest.raises(NothingToDo):
        actions.start(REGROUP_JOB, deployment, manager)

    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0
    assert deployment.source_images_without_timestamp_count == 1
    assert not Job.objects.exists()


def test_a_second_click_while_the_last_captures_are_grouped_gets_the_running_job(
    deployment, manager, ten_ungrouped_nights
):
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
    SourceImage.objects.update(
        event=Event.objects.create(
            deployment=deployment,
            project=deployment.project,
            group_by="x",
            start=timezone.now(),
            end=timezone.now(),
        )
    )

    again, created = actions.start(REGROUP_JOB, deployment, manager)

    assert (again.pk, created) == (job.pk, False)


# Settings


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    for name in (
        "CELERY_BROKER_URL",
        "JOBS_HEARTBEAT_SECONDS",
        "JOBS_STALE_AFTER_SECONDS",
        "JOBS_MAX_ATTEMPTS",
        "JOBS_REAP_EVERY_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(settings_module.__file__)))


def test_stale_time_follows_the_heartbeat_and_redis_redelivers_after_the_reaper(
    monkeypatch, tmp_path
):
    defaults = load_settings(monkeypatch, tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert defaults["JOBS_STALE_AFTER_SECONDS"] == 4 * defaults["JOBS_HEARTBEAT_SECONDS"] == 60
    assert defaults["JOBS_MAX_ATTEMPTS"] == 3
    # The reaper acts within stale + one round; the copy comes back after a second round.
    assert defaults["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"visibility_timeout": 60 + 2 * 60}

    quick = load_settings(
        monkeypatch, tmp_path, JOBS_HEARTBEAT_SECONDS="5", CELERY_BROKER_URL="filesystem://"
    )
    assert quick["JOBS_STALE_AFTER_SECONDS"] == 20
    assert quick["CELERY_BROKER_TRANSPORT_OPTIONS"]["data_folder_in"]  # filesystem kept


def test_a_stale_time_shorter_than_two_heartbeats_is_refused(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="JOBS_STALE_AFTER_SECONDS \\(20\\) must be"):
        load_settings(monkeypatch, tmp_path, JOBS_STALE_AFTER_SECONDS="20")


def test_a_redelivered_message_resumes_a_crashed_run_but_not_a_live_one(
    deployment, manager, ten_ungrouped_nights, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 60
    job, _ = actions.start(REGROUP_JOB, deployment, manager)
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
def capture_set(project, ten_ungrouped_nights):
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
    job, _ = actions.start(POPULATE_JOB, capture_set, manager)

    run_job(job.pk)

    job.refresh_from_db()
    capture_set.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert capture_set.source_images_count == capture_set.images.count() == expected
    assert stage(job)["stats"] == {"Captures in the set": expected}


def test_populate_with_bad_parameters_fails_clearly_and_changes_nothing(capture_set, manager):
    capture_set.kwargs = {"every": "ten"}
    capture_set.save()
    job, _ = actions.start(POPULATE_JOB, capture_set, manager)

    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == "The parameter 'every' must be a positive whole number."
    assert capture_set.images.count() == 0
