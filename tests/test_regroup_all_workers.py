"""Regroup all on two real workers taking the same queue: the children run at once, each
under its deployment's lock; Cancel stops both; Retry redoes only what did not succeed; a
child whose worker is killed is recovered like any job, and the parent ends with it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import actions
from jobs.models import REGROUP_ALL_JOB, Job, JobStatus
from jobs.regroup_all import plan_params
from monitoring.locks import DeploymentBusy, deployment_lock
from monitoring.models import Deployment
from tests.factories import add_nights, job_status
from tests.worker_process import CeleryWorker

UNGROUPED = 600 * 6


@pytest.fixture
def two_workers(monkeypatch, start_worker) -> Iterator[list[CeleryWorker]]:
    """Two workers on one queue, whose jobs write 600 captures a chunk (six chunks each
    here) and pause after their first until the test releases them."""
    monkeypatch.setenv("REGROUP_CHUNK_CAPTURES", "600")
    with ExitStack() as stack:
        first = stack.enter_context(start_worker("first", pause_after_chunk=1))
        second = stack.enter_context(start_worker("second", pause_after_chunk=1, queue=first.queue))
        yield [first, second]


@pytest.fixture
def two_deployments(project) -> list[Deployment]:
    return [
        add_nights(Deployment.objects.create(project=project, name=name), ungrouped=600)
        for name in ("Station A", "Station B")
    ]


def children(parent: Job) -> dict[int, Job]:
    """The parent's child jobs, by deployment."""
    parent.refresh_from_db()
    ids = [stage["job_id"] for stage in parent.progress["stages"] if stage.get("job_id")]
    return {job.deployment_id: job for job in Job.objects.filter(pk__in=ids)}


def wait_until_ended(worker: CeleryWorker, parent: Job) -> Job:
    worker.wait_for(
        lambda: job_status(parent) in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED),
        timeout=120,
        what=f"Regroup all #{parent.pk} to end",
    )
    parent.refresh_from_db()
    return parent


def ungrouped(deployment: Deployment) -> int:
    deployment.refresh_from_db()
    return deployment.source_images_without_event_count


def test_regroup_all_runs_on_two_workers_at_once_cancels_both_and_retries_only_the_rest(
    two_workers, two_deployments, manager
):
    first, second = two_workers
    parent, _ = actions.start(
        REGROUP_ALL_JOB,
        two_deployments[0].project,
        manager,
        params=plan_params((deployment, False) for deployment in two_deployments),
    )

    # Both children are mid-run at the same time, one on each worker...
    first.wait_until_paused()
    second.wait_until_paused()
    running = children(parent)
    assert {job.status for job in running.values()} == {JobStatus.STARTED}
    # ...each holding its deployment's lock.
    for deployment in two_deployments:
        with pytest.raises(DeploymentBusy), deployment_lock(deployment.pk):
            pass

    # Cancel stops both at their next safe point.
    actions.cancel_job(parent, manager)
    first.release()
    second.release()
    parent = wait_until_ended(first, parent)

    assert parent.status == JobStatus.REVOKED
    assert {job.status for job in children(parent).values()} == {JobStatus.REVOKED}
    for deployment in two_deployments:
        assert 0 < ungrouped(deployment) < UNGROUPED

    # Retry, while something else holds Station B's lock: Station A completes, B fails.
    station_a, station_b = two_deployments
    with deployment_lock(station_b.pk):
        actions.retry_job(parent, manager)
        parent = wait_until_ended(first, parent)

    assert parent.status == JobStatus.FAILURE
    runs = children(parent)
    assert (runs[station_a.pk].status, runs[station_b.pk].status) == (
        JobStatus.SUCCESS,
        JobStatus.FAILURE,
    )
    assert (
        "Another regroup of this deployment is running" in runs[station_b.pk].last_error().message
    )
    assert ungrouped(station_a) == 0

    # Retry again: only Station B runs.
    actions.retry_job(parent, manager)
    parent = wait_until_ended(first, parent)

    assert parent.status == JobStatus.SUCCESS
    again = children(parent)
    assert again[station_a.pk].attempts == runs[station_a.pk].attempts == 2
    assert again[station_b.pk].attempts == 3
    assert ungrouped(station_a) == ungrouped(station_b) == 0
    log = " ".join(parent.logs.values_list("message", flat=True))
    assert "Station A: Stopped at a safe point" in log
    assert "Station B: Stopped at a safe point" in log


def test_a_worker_killed_mid_child_is_reaped_and_the_parent_still_ends_done(
    two_workers, two_deployments, manager
):
    first, second = two_workers
    parent, _ = actions.start(
        REGROUP_ALL_JOB,
        two_deployments[0].project,
        manager,
        params=plan_params((deployment, False) for deployment in two_deployments),
    )
    first.wait_until_paused()
    second.wait_until_paused()

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    second.release()
    second.wait_for(
        lambda: any(job.status == JobStatus.SUCCESS for job in children(parent).values()),
        what="the live worker's child to end",
    )
    (lost,) = [job for job in children(parent).values() if job.status == JobStatus.STARTED]
    assert job_status(parent) == JobStatus.STARTED

    # What beat's reaper does once the dead worker's child has been silent long enough.
    Job.objects.filter(pk=lost.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert actions.reap_stale_jobs() == 1
    parent = wait_until_ended(second, parent)

    assert parent.status == JobStatus.SUCCESS
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == (JobStatus.SUCCESS, 2)
    assert f"{lost.deployment}: No sign of life from its worker" in " ".join(
        parent.logs.values_list("message", flat=True)
    )
    assert ungrouped(two_deployments[0]) == ungrouped(two_deployments[1]) == 0
