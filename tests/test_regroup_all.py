"""Regroup all in process: a parent job whose stages are regroup jobs of its deployments.

Committed data (`transaction=True`), so that what happens after a commit (a child telling
its parent it changed) happens as it does in production; sending to a worker is recorded
instead, and each child is run here with the runner.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs import actions, regroup
from jobs.family import settle_parent_of
from jobs.job_type import NothingToDo
from jobs.models import REGROUP_ALL_JOB, REGROUP_JOB, Job, JobStatus
from jobs.regroup_all import plan_params
from jobs.runner import run_job
from monitoring.grouping import RegroupError
from monitoring.models import Deployment, Project
from tests.factories import add_nights, job_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The jobs sent to the workers, in order (nothing reaches a broker)."""
    jobs: list[int] = []
    monkeypatch.setattr(actions, "_dispatch_on_commit", lambda job: jobs.append(job.pk))
    return jobs


@pytest.fixture
def two_deployments(project) -> list[Deployment]:
    return [
        add_nights(Deployment.objects.create(project=project, name=name), ungrouped=3)
        for name in ("Station A", "Station B")
    ]


def regroup_all(deployments: list[Deployment], user) -> Job:
    parent, created = actions.start(
        REGROUP_ALL_JOB,
        deployments[0].project,
        user,
        params=plan_params((deployment, False) for deployment in deployments),
    )
    assert created
    return parent


def stages(parent: Job) -> dict[str, dict]:
    parent.refresh_from_db()
    return {stage["key"]: stage for stage in parent.progress["stages"]}


def child_of(parent: Job, deployment: Deployment) -> Job:
    return Job.objects.get(pk=stages(parent)[f"deployment-{deployment.pk}"]["job_id"])


def log_of(job: Job) -> list[str]:
    return list(job.logs.values_list("message", flat=True))


def test_each_deployment_is_a_child_regroup_and_the_parent_ends_with_the_last(
    two_deployments, manager, sent
):
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)

    assert parent.name == "Regroup 2 deployments"
    assert parent.status == JobStatus.STARTED
    children = [child_of(parent, first), child_of(parent, second)]
    assert sent == [child.pk for child in children]
    assert all(
        (child.job_type_key, child.parent_id, child.status)
        == (REGROUP_JOB, parent.pk, JobStatus.PENDING)
        for child in children
    )
    assert [child.deployment for child in children] == two_deployments
    overall = stages(parent)["overall"]
    assert (overall["done"], overall["total"], overall["unit"]) == (0, 2, "deployments")

    run_job(children[0].pk)

    progress = stages(parent)
    assert progress[f"deployment-{first.pk}"]["status"] == JobStatus.SUCCESS
    assert progress[f"deployment-{first.pk}"]["done"] == 18
    assert progress[f"deployment-{first.pk}"]["stats"]["Captures grouped"] == 18
    assert progress[f"deployment-{second.pk}"]["status"] == JobStatus.PENDING
    assert progress["overall"]["done"] == 1
    assert job_status(parent) == JobStatus.STARTED

    run_job(children[1].pk)

    parent.refresh_from_db()
    assert parent.status == JobStatus.SUCCESS
    assert parent.result == {"stages": 2, "Succeeded": 2, "Failed": 0, "Cancelled": 0}
    assert stages(parent)["overall"]["done"] == 2
    log = log_of(parent)
    # One log: the children's lines are in it, each prefixed by its deployment.
    assert "Station A: Started on" in " ".join(log)
    assert any(line.startswith("Station B: Grouped 18 captures") for line in log)
    assert log[-1] == "Finished: all 2 stages succeeded."
    for deployment in two_deployments:
        deployment.refresh_from_db()
        assert deployment.source_images_without_event_count == 0


def test_a_second_click_gets_the_same_parent(two_deployments, manager, sent):
    parent = regroup_all(two_deployments, manager)
    again, created = actions.start(
        REGROUP_ALL_JOB,
        parent.project,
        manager,
        params=plan_params((deployment, False) for deployment in two_deployments),
    )

    assert (again.pk, created) == (parent.pk, False)
    assert len(sent) == 2
    assert Job.objects.filter(job_type_key=REGROUP_JOB).count() == 2


def test_a_deployment_already_regrouping_is_joined_not_regrouped_twice(
    two_deployments, manager, sent
):
    first, second = two_deployments
    from_its_card, _ = actions.start(REGROUP_JOB, first, manager)

    parent = regroup_all(two_deployments, manager)

    assert child_of(parent, first).pk == from_its_card.pk
    assert Job.objects.filter(deployment=first).count() == 1
    assert sent == [from_its_card.pk, child_of(parent, second).pk]
    assert f"Station A: already regrouping in job #{from_its_card.pk}; following it." in log_of(
        parent
    )

    # The joined job was loaded by its worker before it had a parent; its end still counts.
    run_job(from_its_card.pk)
    assert stages(parent)[f"deployment-{first.pk}"]["status"] == JobStatus.SUCCESS


def test_a_deployment_with_nothing_to_regroup_is_a_stage_done_at_once(
    project, two_deployments, manager, sent
):
    grouped = Deployment.objects.create(project=project, name="Station C")

    parent = regroup_all([*two_deployments, grouped], manager)

    stage = stages(parent)[f"deployment-{grouped.pk}"]
    assert (stage["status"], stage["job_id"]) == (JobStatus.SUCCESS, None)
    assert "Station C: Nothing to regroup" in " ".join(log_of(parent))
    assert len(sent) == 2


def test_nothing_listed_or_a_deployment_of_another_project_queues_nothing(
    two_deployments, manager, sent
):
    project = two_deployments[0].project
    with pytest.raises(NothingToDo):
        actions.start(REGROUP_ALL_JOB, project, manager, params=plan_params([]))
    elsewhere = Deployment.objects.create(
        project=Project.objects.create(name="Elsewhere"), name="Far away"
    )
    with pytest.raises(ValueError, match="Not deployments of"):
        actions.start(
            REGROUP_ALL_JOB,
            project,
            manager,
            params=plan_params([(two_deployments[0], False), (elsewhere, False)]),
        )

    assert not Job.objects.exists()
    assert sent == []


def test_cancel_stops_every_child_and_the_parent_ends_cancelled_with_the_last(
    two_deployments, manager, sent
):
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)
    running = child_of(parent, first)
    # As a worker leaves it mid-run.
    Job.objects.filter(pk=running.pk).update(status=JobStatus.STARTED)

    parent = actions.cancel_job(parent, manager)

    assert parent.status == JobStatus.CANCELLING
    assert job_status(running) == JobStatus.CANCELLING
    assert job_status(child_of(parent, second)) == JobStatus.REVOKED  # no worker had it
    assert stages(parent)[f"deployment-{second.pk}"]["status"] == JobStatus.REVOKED

    # The running child stops at its next safe point, and its runner says so.
    Job.objects.filter(pk=running.pk).update(status=JobStatus.REVOKED)
    settle_parent_of(running)

    parent.refresh_from_db()
    assert parent.status == JobStatus.REVOKED
    assert parent.can_retry
    assert "Cancel asked by manager" in " ".join(log_of(parent))


def test_retry_runs_only_the_stages_that_did_not_succeed(
    two_deployments, manager, sent, monkeypatch
):
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)
    real = regroup.regroup_deployment

    def broken_for_b(deployment, **options):
        if deployment.pk == second.pk:
            raise RegroupError("The disk is full.")
        return real(deployment, **options)

    monkeypatch.setattr(regroup, "regroup_deployment", broken_for_b)
    done, failed = child_of(parent, first), child_of(parent, second)
    run_job(done.pk)
    run_job(failed.pk)

    parent.refresh_from_db()
    assert parent.status == JobStatus.FAILURE
    assert parent.result["Failed"] == 1
    assert "Retry runs only the stage that did not succeed." in log_of(parent)[-1]

    monkeypatch.setattr(regroup, "regroup_deployment", real)
    sent.clear()
    parent, queued = actions.retry_job(parent, manager)

    assert queued and parent.status == JobStatus.STARTED
    # The failed child runs again (the same job, retried); the one that succeeded doesn't.
    assert sent == [failed.pk]
    assert child_of(parent, second).pk == failed.pk
    assert job_status(failed) == JobStatus.PENDING
    assert job_status(done) == JobStatus.SUCCESS
    assert stages(parent)[f"deployment-{first.pk}"]["status"] == JobStatus.SUCCESS

    run_job(failed.pk)

    parent.refresh_from_db()
    assert parent.status == JobStatus.SUCCESS
    assert Job.objects.get(pk=done.pk).attempts == 1
    assert Job.objects.get(pk=failed.pk).attempts == 2


def test_a_child_whose_worker_died_is_reaped_and_the_parent_follows_it(
    two_deployments, manager, sent, settings
):
    settings.JOBS_MAX_ATTEMPTS = 1
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)
    run_job(child_of(parent, first).pk)
    lost = child_of(parent, second)
    silent = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=lost.pk).update(status=JobStatus.STARTED, heartbeat_at=silent)
    # The parent has no worker of its own: never stale, whatever its heartbeat says.
    Job.objects.filter(pk=parent.pk).update(heartbeat_at=silent)

    assert actions.reap_stale_jobs() == 1

    parent.refresh_from_db()
    assert job_status(lost) == JobStatus.FAILURE
    assert parent.status == JobStatus.FAILURE
    assert stages(parent)[f"deployment-{second.pk}"]["status"] == JobStatus.FAILURE


def test_a_parent_whose_child_is_gone_ends_at_the_next_reaper_round(two_deployments, manager, sent):
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)
    run_job(child_of(parent, first).pk)
    gone = f"deployment-{second.pk}"
    second.delete()  # and its regroup with it

    assert job_status(parent) == JobStatus.STARTED
    actions.reap_stale_jobs()

    parent.refresh_from_db()
    assert parent.status == JobStatus.FAILURE
    assert stages(parent)[gone]["status"] == JobStatus.FAILURE


def test_a_retry_skips_a_deployment_deleted_since(two_deployments, manager, sent):
    first, second = two_deployments
    parent = regroup_all(two_deployments, manager)
    actions.cancel_job(parent, manager)
    gone = f"deployment-{second.pk}"
    second.delete()

    parent, queued = actions.retry_job(parent, manager)

    assert queued
    assert gone not in stages(parent)
    assert child_of(parent, first).status == JobStatus.PENDING
    first.delete()
    actions.cancel_job(parent, manager)
    with pytest.raises(NothingToDo):
        actions.retry_job(parent, manager)


def test_clicks_at_the_same_moment_get_one_parent_and_one_regroup_per_deployment(
    two_deployments, manager, sent
):
    first, _ = two_deployments
    barrier = threading.Barrier(6)
    answers: list[int] = []
    errors: list[BaseException] = []

    def click(card: bool) -> None:
        try:
            barrier.wait(timeout=10)
            if card:  # the Regroup of Station A's card, clicked meanwhile
                actions.start(REGROUP_JOB, first, manager)
            else:
                parent, _ = actions.start(
                    REGROUP_ALL_JOB,
                    first.project,
                    manager,
                    params=plan_params((deployment, False) for deployment in two_deployments),
                )
                answers.append(parent.pk)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(index >= 4,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    parent = Job.objects.get(job_type_key=REGROUP_ALL_JOB)
    assert answers == [parent.pk] * 4
    for deployment in two_deployments:
        assert Job.objects.filter(deployment=deployment).active().count() == 1
    assert child_of(parent, first).deployment == first
    assert sorted(sent) == sorted(
        Job.objects.filter(job_type_key=REGROUP_JOB).values_list("pk", flat=True)
    )
