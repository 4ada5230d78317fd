"""Regroup and Retry when every dated capture is already in a session: no job, and a
clear answer (a message after a form post, the region in its current state with htmx)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import Job, JobLog, JobStatus
from jobs.regroup import NOTHING_TO_REGROUP
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment
from tests.factories import HTMX, add_captures, deployment_url, make_job, nights

pytestmark = pytest.mark.django_db


@pytest.fixture
def grouped(deployment: Deployment) -> Deployment:
    """Two nights, all grouped, and one capture without a timestamp (nobody can group it)."""
    add_captures(deployment, [*nights(0, 2), None])
    regroup_deployment(deployment)
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0
    return deployment


@pytest.fixture
def failed_before(grouped: Deployment) -> Job:
    """A regroup that failed earlier; the captures were grouped some other way since, and
    the stored count still says 12 were left."""
    job = make_job(grouped, JobStatus.FAILURE)
    job.log("Failed: the database went away", JobLog.Level.ERROR)
    Deployment.objects.filter(pk=grouped.pk).update(source_images_without_event_count=12)
    return job


@pytest.mark.parametrize("name", ["deployment-regroup", "deployment-regroup-retry"])
def test_without_javascript_no_job_is_created_and_the_page_says_why(
    client: Client, manager, grouped, name
):
    client.force_login(manager)

    response = client.post(deployment_url(name, grouped), follow=True)

    assert response.redirect_chain == [(grouped.get_absolute_url(), 302)]
    assert NOTHING_TO_REGROUP in response.text
    assert not Job.objects.exists()


@pytest.mark.parametrize("name", ["deployment-regroup", "deployment-regroup-retry"])
def test_with_htmx_the_card_answers_with_the_current_state(client: Client, manager, grouped, name):
    client.force_login(manager)

    response = client.post(deployment_url(name, grouped), {"region": "card"}, **HTMX)

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert "<html" not in response.text
    assert response.text.strip().startswith(f'<article id="deployment-{grouped.pk}-card"')
    assert "All captures are grouped into sessions." in response.text
    assert "hx-trigger" not in response.text  # nothing runs, so nothing polls
    assert not Job.objects.exists()


def test_from_the_rollup_the_row_says_all_grouped(client: Client, manager, grouped):
    client.force_login(manager)

    response = client.post(
        deployment_url("deployment-regroup", grouped), {"region": "rollup-row"}, **HTMX
    )

    assert response.status_code == 200
    assert response.text.strip().startswith(f'<li id="rollup-deployment-{grouped.pk}"')
    assert "All grouped now." in response.text
    assert not Job.objects.exists()


def test_retry_of_a_failed_regroup_queues_nothing_and_corrects_the_stale_count(
    client: Client, manager, grouped, failed_before
):
    client.force_login(manager)
    assert "12 captures aren't grouped" in client.get(grouped.get_absolute_url()).text

    htmx = client.post(
        deployment_url("deployment-regroup-retry", grouped), {"region": "card"}, **HTMX
    )

    assert "All captures are grouped into sessions." in htmx.text
    assert "finished" not in htmx.text  # the failed run did not finish anything
    failed_before.refresh_from_db()
    assert failed_before.status == JobStatus.FAILURE
    assert Job.objects.count() == 1
    grouped.refresh_from_db()
    assert grouped.source_images_without_event_count == 0
    page = client.get(grouped.get_absolute_url()).text
    assert f'id="deployment-{grouped.pk}-card"' not in page


def test_retry_from_the_job_page_says_there_is_nothing_to_regroup(
    client: Client, manager, grouped, failed_before
):
    client.force_login(manager)
    job_retry = reverse("job-retry", args=[failed_before.project_id, failed_before.pk])

    response = client.post(job_retry, follow=True)
    htmx = client.post(job_retry, **HTMX)

    assert response.redirect_chain == [(failed_before.get_absolute_url(), 302)]
    assert NOTHING_TO_REGROUP in response.text
    assert NOTHING_TO_REGROUP in htmx.text
    failed_before.refresh_from_db()
    assert failed_before.status == JobStatus.FAILURE
    assert not failed_before.logs.filter(message__startswith="Retried").exists()
