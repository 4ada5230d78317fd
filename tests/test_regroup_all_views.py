"""Regroup all on the project page's rollup: who may, with and without htmx, and its poll."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from jobs.family import settle
from jobs.models import REGROUP_ALL_JOB, REGROUP_JOB, Job, JobStatus
from jobs.runner import run_job
from monitoring.models import Deployment, Project
from tests.factories import HTMX, add_nights

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_ungrouped(project) -> list[Deployment]:
    return [
        add_nights(Deployment.objects.create(project=project, name=name), ungrouped=count)
        for name, count in (("Station A", 3), ("Station B", 2))
    ]


def regroup_all_url(project: Project) -> str:
    return reverse("project-regroup-all", args=[project.pk])


def progress_url(project: Project) -> str:
    return reverse("project-regroup-all-progress", args=[project.pk])


def the_parent() -> Job:
    return Job.objects.get(job_type_key=REGROUP_ALL_JOB)


def children() -> list[Job]:
    return list(Job.objects.filter(job_type_key=REGROUP_JOB).order_by("pk"))


def test_managers_see_regroup_all_when_more_than_one_deployment_needs_it(
    client, manager, member, project, two_ungrouped
):
    client.force_login(manager)
    page = client.get(project.get_absolute_url()).text
    assert f'action="{regroup_all_url(project)}"' in page
    assert ">Regroup all</button>" in page
    assert "One job regroups these 2 deployments" in page

    client.force_login(member)
    assert ">Regroup all</button>" not in client.get(project.get_absolute_url()).text

    # One deployment: its row's own Regroup is enough.
    two_ungrouped[1].delete()
    client.force_login(manager)
    assert ">Regroup all</button>" not in client.get(project.get_absolute_url()).text


def test_a_member_gets_403_an_outsider_404_and_a_stranger_the_sign_in(
    client, member, outsider, project, two_ungrouped
):
    client.force_login(member)
    assert client.post(regroup_all_url(project)).status_code == 403
    client.force_login(outsider)
    assert client.post(regroup_all_url(project)).status_code == 404
    client.logout()
    response = client.post(regroup_all_url(project))
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert not Job.objects.exists()


def test_a_post_without_a_csrf_token_is_refused(manager, project, two_ungrouped):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post(regroup_all_url(project)).status_code == 403
    assert not Job.objects.exists()


def test_without_javascript_a_post_starts_one_job_and_leads_to_its_page(
    client, manager, project, two_ungrouped
):
    client.force_login(manager)
    response = client.post(regroup_all_url(project))
    again = client.post(regroup_all_url(project), follow=True)

    parent = the_parent()
    assert response.status_code == 302 and response.url == parent.get_absolute_url()
    assert parent.name == "Regroup 2 deployments"
    assert [child.deployment for child in children()] == two_ungrouped  # most ungrouped first
    assert "A Regroup all of Moths of the Fens is already running: this one." in again.text
    # The job page: the project, and a stage per deployment linked to its job.
    page = client.get(parent.get_absolute_url()).text
    assert "<dt>Project</dt>" in page
    assert "All deployments" in page and "0 of 2 deployments" in page
    for child in children():
        assert f'href="{child.get_absolute_url()}">Its job, #{child.pk}</a>' in page
    assert "Station A" in page and "Station B" in page


def test_with_htmx_the_rollup_is_swapped_and_its_rows_follow_their_regroups(
    client, manager, project, two_ungrouped
):
    client.force_login(manager)
    response = client.post(regroup_all_url(project), **HTMX)

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert "<html" not in response.text
    assert response.text.strip().startswith('<section id="rollup"')
    parent = the_parent()
    assert f"{progress_url(project)}?seen=" in response.text
    assert ">Regroup all</button>" not in response.text
    for deployment in two_ungrouped:
        row_url = reverse("deployment-rollup-row", args=[project.pk, deployment.pk])
        assert f'hx-get="{row_url}?seen=' in response.text
    assert f'aria-label="{parent.name}"' in response.text


def test_nothing_to_regroup_says_so_and_queues_nothing(client, manager, project, deployment):
    client.force_login(manager)
    response = client.post(regroup_all_url(project), follow=True)
    assert "Nothing to regroup: no deployment of this project needs it." in response.text
    assert not Job.objects.exists()


def test_the_poll_answers_204_until_the_job_ends_then_how_it_ended_and_the_heading(
    client, manager, project, two_ungrouped
):
    client.force_login(manager)
    client.post(regroup_all_url(project), **HTMX)
    parent = the_parent()
    running = client.get(progress_url(project), **HTMX)
    seen = running.text.split("?seen=", 1)[1].split('"', 1)[0]

    unchanged = client.get(f"{progress_url(project)}?seen={seen}", **HTMX)
    assert unchanged.status_code == 204
    assert client.get(progress_url(project)).status_code == 302  # without htmx: the page

    for child in children():
        run_job(child.pk)
    settle(parent.pk)

    ended = client.get(f"{progress_url(project)}?seen={seen}", **HTMX)
    assert ended.status_code == 200
    assert "hx-trigger" not in ended.text.split('id="rollup-summary"', 1)[0]
    assert "Regroup 2 deployments: done." in ended.text
    assert 'id="rollup-summary" hx-swap-oob="true"' in ended.text
    assert "All captures are grouped into sessions now." in ended.text
    parent.refresh_from_db()
    assert parent.status == JobStatus.SUCCESS
    # A fresh page has nothing left to regroup.
    assert 'id="rollup"' not in client.get(project.get_absolute_url()).text


def test_a_deployment_with_sessions_out_of_date_gets_a_full_regroup(
    client, manager, project, two_ungrouped
):
    # Grouped under the 2-hour gap, which the project no longer uses.
    grouped = add_nights(Deployment.objects.create(project=project, name="Station C"), grouped=2)
    project.session_time_gap_seconds = 3600
    project.save()
    client.force_login(manager)

    client.post(regroup_all_url(project))

    assert the_parent().name == "Regroup 3 deployments"
    full = {child.deployment.name: child.params for child in children()}
    assert full == {"Station A": {}, "Station B": {}, "Station C": {"full": True}}
    assert grouped.jobs.get().name == "Regroup every night of Station C"


def test_each_deployment_card_follows_its_own_regroup_and_links_the_parent(
    client, manager, project, two_ungrouped
):
    client.force_login(manager)
    client.post(regroup_all_url(project))
    parent = the_parent()

    for deployment, child in zip(two_ungrouped, children(), strict=True):
        page = client.get(deployment.get_absolute_url()).text
        assert "Grouping captures into sessions…" in page
        assert f'href="{child.get_absolute_url()}">Follow the job and its log</a>' in page
        assert f'href="{parent.get_absolute_url()}">Regroup all (job #{parent.pk})</a>' in page
