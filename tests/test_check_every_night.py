"""Check every night: a full regroup that managers start from the deployment page, recorded
on its job; and what every regroup job and the command say about the way they ran."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs.models import REGROUP_JOB, Job, JobStatus
from jobs.runner import run_job
from monitoring.models import Deployment
from tests.factories import add_captures, add_nights, deployment_url, job_url, nights, run_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def grouped(deployment: Deployment) -> Deployment:
    """Three nights, all grouped: a plain Regroup has nothing to do."""
    return add_nights(deployment, grouped=3)


def check_every_night(client: Client, deployment: Deployment, **extra):
    return client.post(deployment_url("deployment-regroup-full", deployment), **extra)


def test_a_manager_checks_every_night_even_with_nothing_ungrouped(
    client: Client, manager, grouped, django_capture_on_commit_callbacks
):
    client.force_login(manager)

    with django_capture_on_commit_callbacks() as dispatched:
        response = check_every_night(client, grouped, follow=True)

    job = Job.objects.get()
    assert len(dispatched) == 1
    assert response.redirect_chain == [(job.get_absolute_url(), 302)]
    assert (job.job_type_key, job.params, job.status) == (REGROUP_JOB, {"full": True}, "PENDING")
    assert job.name == f"Regroup every night of {grouped}"
    page = response.text
    assert f"Checking every night of {grouped} started." in page
    assert "<dt>Options</dt><dd>Every night: every session redrawn" in page


def test_a_regroup_running_already_is_the_answer(client: Client, manager, grouped):
    running = Job.objects.create(
        name="Regroup", job_type_key=REGROUP_JOB, project=grouped.project, deployment=grouped,
        status=JobStatus.STARTED,
    )  # fmt: skip
    client.force_login(manager)

    response = check_every_night(client, grouped, follow=True)

    assert response.redirect_chain == [(running.get_absolute_url(), 302)]
    assert "is already running: this one." in response.text
    assert Job.objects.count() == 1


def test_members_may_not_and_outsiders_see_nothing(client: Client, member, outsider, grouped):
    client.force_login(member)
    assert check_every_night(client, grouped).status_code == 403
    client.force_login(outsider)
    assert check_every_night(client, grouped).status_code == 404
    client.logout()
    assert check_every_night(client, grouped).status_code == 302  # to sign in
    assert not Job.objects.exists()


def test_only_managers_see_the_button_on_the_deployment_page(
    client: Client, manager, member, grouped
):
    action = deployment_url("deployment-regroup-full", grouped)
    client.force_login(manager)
    assert f'action="{action}"' in client.get(grouped.get_absolute_url()).text
    client.force_login(member)
    assert action not in client.get(grouped.get_absolute_url()).text


def test_the_job_logs_the_way_it_ran_and_what_it_read(client: Client, manager, grouped):
    client.force_login(manager)
    check_every_night(client, grouped)
    full = Job.objects.get()

    run_job(full.pk)

    full.refresh_from_db()
    assert full.status == JobStatus.SUCCESS
    assert full.result["mode"] == "full"
    stats = full.stage_progress.stages[0].stats
    assert (stats["Mode"], stats["Captures read"]) == ("Full", 18)
    assert full.logs.filter(
        message="Full regroup, every night checked (it was asked for): read 18 captures."
    ).exists()

    add_captures(grouped, nights(3, 1, per_night=1))
    client.post(deployment_url("deployment-regroup", grouped))
    regroup = Job.objects.exclude(pk=full.pk).get()
    run_job(regroup.pk)
    regroup.refresh_from_db()
    assert regroup.result["mode"] == "incremental"
    assert regroup.logs.filter(
        message="Incremental regroup: read 1 capture, around what changed since the sessions "
        "were drawn."
    ).exists()
    page = client.get(job_url("job-detail", regroup)).text
    assert "<dt>Options</dt>" not in page
    assert "<dt>Mode</dt><dd>Incremental</dd>" in page


def test_the_command_checks_every_night_when_asked(grouped):
    text = run_command("regroup", str(grouped.pk), "--full")
    assert "mode:                       full, every night (it was asked for)" in text
    assert "captures read:              18" in text

    text = run_command("regroup", str(grouped.pk))
    assert "mode:                       incremental" in text
    assert "captures read:              0" in text
    assert "Nothing changed: the sessions were right." in text
