"""The jobs pages, Cancel and Retry, and Populate from the capture-set list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import POPULATE_JOB, Job, JobLog, JobStatus
from monitoring.models import Deployment, Project, SourceImageCollection
from tests.factories import HTMX, add_captures, job_url, make_job, nights, regroup_progress


def row_of(text: str, job: Job) -> str:
    return text.split(f'id="job-{job.pk}-row"', 1)[1].split("</tr>", 1)[0]


def tag_of(text: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    before, after = text.split(f'id="{element_id}"', 1)
    return before[before.rindex("<") :] + after.split(">", 1)[0]


@pytest.fixture
def running(deployment, manager) -> Job:
    job = make_job(deployment, started_at=timezone.now() - timedelta(minutes=3), created_by=manager)
    job.log("Started on worker-1 (run 1).")
    job.log("Chunk 3 took longer than expected.", JobLog.Level.WARNING)
    return job


@pytest.fixture
def failed(project) -> Job:
    elsewhere = Deployment.objects.create(project=project, name="Station B")
    add_captures(elsewhere, nights(0, 1))  # still ungrouped: a retry has work to do
    job = make_job(
        elsewhere,
        JobStatus.FAILURE,
        progress=regroup_progress(eta_seconds=None),
        started_at=timezone.now() - timedelta(minutes=2),
        finished_at=timezone.now(),
    )
    job.log("Another regroup of this deployment is running.", JobLog.Level.ERROR)
    return job


@pytest.fixture
def other_job(db) -> Job:
    other = Project.objects.create(name="Somebody else's moths", is_private=True)
    return make_job(Deployment.objects.create(project=other, name="Station Z"))


@pytest.fixture
def empty_set(project) -> SourceImageCollection:
    return SourceImageCollection.objects.create(
        project=project,
        name="Random 100",
        method=SourceImageCollection.Method.RANDOM,
        kwargs={"size": 100},
    )


# Job list


def test_job_list_shows_jobs_newest_first_with_status_and_progress(
    client, member, project, running, failed
):
    client.force_login(member)
    response = client.get(reverse("job-list", args=[project.pk]))
    assert response.status_code == 200
    text = response.text
    assert text.index(f'id="job-{failed.pk}-row"') < text.index(f'id="job-{running.pk}-row"')

    row = row_of(text, running)
    assert "Regroup sessions of Station A" in row
    assert ">Regroup sessions</a></td>" in row  # the type, from the registry, once
    assert running.deployment.get_absolute_url() in row
    assert 'class="chip chip-running">Running<' in row
    assert "69,120 of 165,432 captures" in row
    assert 'aria-valuenow="69120"' in row
    assert 'aria-valuemax="165432"' in row
    assert "width: 41%" in row
    assert "manager" in row
    assert 'class="chip chip-failure">Failed<' in row_of(text, failed)
    assert "—" in row_of(text, failed)  # nobody started it


def test_status_chips_match_statuses(client, member, deployment):
    expected = {
        JobStatus.PENDING: "chip-pending",
        JobStatus.STARTED: "chip-running",
        JobStatus.CANCELLING: "chip-running",
        JobStatus.SUCCESS: "chip-success",
        JobStatus.REVOKED: "chip-warning",
        JobStatus.FAILURE: "chip-failure",
    }
    project = deployment.project
    jobs = {
        status: make_job(Deployment.objects.create(project=project, name=status), status)
        for status in expected
    }
    client.force_login(member)
    text = client.get(reverse("job-list", args=[deployment.project_id])).text
    for status, chip in expected.items():
        assert f'class="chip {chip}"' in row_of(text, jobs[status]), status


def test_only_active_rows_poll(client, member, project, running, failed):
    client.force_login(member)
    text = client.get(reverse("job-list", args=[project.pk])).text
    active_row = tag_of(text, f"job-{running.pk}-row")
    assert f'hx-get="{job_url("job-row", running)}?seen=' in active_row
    assert 'hx-trigger="every 1s"' in active_row  # a job that has just changed: every second
    assert 'hx-swap="outerHTML"' in active_row
    assert "hx-trigger" not in tag_of(text, f"job-{failed.pk}-row")


def test_job_row_is_a_fragment_that_stops_polling_when_the_job_ends(client, member, running):
    client.force_login(member)
    response = client.get(job_url("job-row", running), **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith(f'<tr id="job-{running.pk}-row"')
    assert 'hx-trigger="every 1s"' in response.text
    assert "HX-Request" in response["Vary"]

    Job.objects.filter(pk=running.pk).update(status=JobStatus.SUCCESS)
    response = client.get(job_url("job-row", running), **HTMX)
    assert "hx-trigger" not in response.text
    assert "chip-success" in response.text


def test_job_row_without_htmx_sends_to_the_job_page(client, member, running):
    client.force_login(member)
    response = client.get(job_url("job-row", running))
    assert response.status_code == 302
    assert response.url == running.get_absolute_url()
    assert "HX-Request" in response["Vary"]


def test_job_list_paginates_by_50(client, member, deployment):
    for _ in range(51):
        make_job(deployment, JobStatus.SUCCESS)
    client.force_login(member)
    response = client.get(reverse("job-list", args=[deployment.project_id]))
    assert len(response.context["jobs"].object_list) == 50
    assert "Page 1 of 2" in response.text


@pytest.mark.parametrize("count", [2, 20])
def test_job_list_query_count_does_not_grow_with_rows(
    client, member, project, manager, django_assert_max_num_queries, count
):
    for index in range(count):
        station = Deployment.objects.create(project=project, name=f"Station {index}")
        make_job(station, created_by=manager)
    client.force_login(member)
    client.get(reverse("job-list", args=[project.pk]))  # warm the session and user lookups
    with django_assert_max_num_queries(6):
        response = client.get(reverse("job-list", args=[project.pk]))
    assert response.text.count('hx-trigger="every 1s"') == count


def test_capture_set_jobs_link_to_the_capture_set_list(client, member, project, empty_set):
    job = Job.objects.create(
        name="Populate capture set Random 100",
        job_type_key=POPULATE_JOB,
        project=project,
        source_image_collection=empty_set,
        status=JobStatus.PENDING,
    )
    client.force_login(member)
    row = row_of(client.get(reverse("job-list", args=[project.pk])).text, job)
    assert ">Populate capture set</a></td>" in row
    assert (
        f"{reverse('capture-set-list', args=[project.pk])}#capture-set-{empty_set.pk}-card" in row
    )
    assert "Not started" in row
    assert 'class="chip chip-pending">Waiting for a worker<' in row


def test_project_nav_has_a_jobs_tab(client, member, project):
    client.force_login(member)
    text = client.get(project.get_absolute_url()).text
    assert f'href="{reverse("job-list", args=[project.pk])}"' in text
    jobs_page = client.get(reverse("job-list", args=[project.pk])).text
    assert 'aria-current="page">Jobs</a>' in jobs_page
    assert "No jobs yet." in jobs_page


# Job page


def test_job_page_shows_stages_stats_eta_and_log(client, member, running):
    client.force_login(member)
    response = client.get(running.get_absolute_url())
    assert response.status_code == 200
    text = response.text
    assert "Regroup sessions of Station A" in text
    assert running.deployment.get_absolute_url() in text
    assert "Group captures into sessions" in text
    assert "69,120 of 165,432 captures" in text
    assert f'id="job-{running.pk}-stage-regroup-progress"' in text
    assert 'role="progressbar"' in text
    assert "about 2 minutes left" in text
    assert "<dt>Sessions created</dt><dd>12</dd>" in text
    assert "<dt>Occurrences re-linked</dt><dd>4,321</dd>" in text
    assert "Started on worker-1 (run 1)." in text
    assert "Chunk 3 took longer than expected." in text
    assert text.index("Started on worker-1") < text.index("Chunk 3 took longer")
    assert '<span class="log-level">WARNING</span>' in text
    assert "3\xa0minutes" in text  # running for
    assert 'aria-live="polite"' in text
    assert "Running: Group captures into sessions, 40% done." in text
    # Members see what is going on but get no buttons.
    assert "Cancel job" not in text
    assert "A project manager can cancel this job." in text


def test_a_stage_of_one_says_its_unit_in_the_singular(client, member, deployment):
    job = make_job(deployment, progress=regroup_progress(done=0, total=1))
    client.force_login(member)
    text = client.get(job.get_absolute_url()).text
    assert "0 of 1 capture<" in text
    assert 'aria-valuetext="0 of 1 capture"' in text


def test_job_page_polls_while_active_and_not_once_final(client, member, running, failed):
    client.force_login(member)
    live = tag_of(client.get(running.get_absolute_url()).text, f"job-{running.pk}-live")
    assert f'hx-get="{job_url("job-live", running)}?announced=' in live
    assert 'hx-trigger="every 1s"' in live
    assert 'hx-swap="outerHTML"' in live
    final = tag_of(client.get(failed.get_absolute_url()).text, f"job-{failed.pk}-live")
    assert "hx-trigger" not in final


def test_job_page_of_a_failure_says_why_and_hides_the_eta(client, manager, failed):
    client.force_login(manager)
    text = client.get(failed.get_absolute_url()).text
    assert "This job failed." in text
    assert "Another regroup of this deployment is running." in text
    assert '<span class="log-level">ERROR</span>' in text
    assert "left</p>" not in text
    assert f'action="{job_url("job-retry", failed)}"' in text
    assert "Cancel job" not in text


def test_job_page_shows_the_result_warnings(client, member, deployment):
    job = make_job(
        deployment,
        JobStatus.SUCCESS,
        result={"warnings": ["3 occurrences have no detections and kept their session."]},
    )
    client.force_login(member)
    text = client.get(job.get_absolute_url()).text
    assert "Warnings" in text
    assert "3 occurrences have no detections and kept their session." in text


def test_job_page_shows_the_last_200_log_lines_oldest_first(client, member, running):
    JobLog.objects.bulk_create(JobLog(job=running, message=f"Line {n}.") for n in range(250))
    client.force_login(member)
    response = client.get(running.get_absolute_url())
    lines = response.context["logs"]
    assert len(lines) == 200
    assert lines[0].message == "Line 50."
    assert lines[-1].message == "Line 249."
    assert "The last 200 of 252 lines, oldest first." in response.text
    assert "Started on worker-1" not in response.text


def test_job_live_is_a_fragment_that_stops_polling_when_the_job_ends(client, member, running):
    client.force_login(member)
    response = client.get(job_url("job-live", running), **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith(f'<div id="job-{running.pk}-live"')
    assert 'hx-trigger="every 1s"' in response.text
    assert "HX-Request" in response["Vary"]

    running.log("Finished.")
    Job.objects.filter(pk=running.pk).update(
        status=JobStatus.SUCCESS, finished_at=timezone.now(), progress=regroup_progress("SUCCESS")
    )
    response = client.get(job_url("job-live", running), **HTMX)
    assert "hx-trigger" not in response.text
    assert "Finished." in response.text
    assert "chip-success" in response.text


def test_job_live_announces_only_what_changed(client, member, running):
    client.force_login(member)
    first = client.get(job_url("job-live", running), **HTMX)
    assert 'aria-live="polite" hx-swap-oob="innerHTML"' in first.text
    announced = first.context["view"].announcement
    same = client.get(job_url("job-live", running), {"announced": announced}, **HTMX)
    assert f"?announced={announced.replace(':', '%3A')}" in same.text
    assert "aria-live" not in same.text
    Job.objects.filter(pk=running.pk).update(status=JobStatus.CANCELLING)
    changed = client.get(job_url("job-live", running), {"announced": announced}, **HTMX)
    assert "aria-live" in changed.text
    assert "Cancelling" in changed.text


def test_job_live_without_htmx_sends_to_the_job_page(client, member, running):
    client.force_login(member)
    response = client.get(job_url("job-live", running))
    assert response.status_code == 302
    assert response.url == running.get_absolute_url()


# Who may see and act


def job_pages(job: Job) -> list[str]:
    return [job_url("job-detail", job), job_url("job-row", job), job_url("job-live", job)]


def test_outsiders_get_404_and_anonymous_users_are_sent_to_sign_in(client, outsider, running):
    for page in [*job_pages(running), reverse("job-list", args=[running.project_id])]:
        assert client.get(page).status_code == 302, page
    client.force_login(outsider)
    for page in [*job_pages(running), reverse("job-list", args=[running.project_id])]:
        assert client.get(page).status_code == 404, page


def test_another_projects_job_gives_404(client, manager, project, other_job):
    client.force_login(manager)
    for name in ("job-detail", "job-row", "job-live", "job-cancel", "job-retry"):
        page = reverse(name, args=[project.pk, other_job.pk])
        response = client.post(page) if name in ("job-cancel", "job-retry") else client.get(page)
        assert response.status_code == 404, name
    other_job.refresh_from_db()
    assert other_job.status == JobStatus.STARTED


# Cancel and Retry


def test_cancel_of_a_running_job_asks_it_to_stop(client, manager, running):
    client.force_login(manager)
    response = client.post(job_url("job-cancel", running))
    assert response.status_code == 302
    assert response.url == running.get_absolute_url()
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLING
    assert running.logs.last().message == (
        "Cancel asked by manager; stopping at the next safe point."
    )
    page = client.get(response.url).text
    assert "Cancel asked: the job stops at its next safe point." in page


def test_cancel_of_a_pending_job_cancels_it_at_once(client, manager, deployment):
    job = make_job(deployment, JobStatus.PENDING, progress={})
    client.force_login(manager)
    client.post(job_url("job-cancel", job))
    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert job.finished_at is not None
    assert "before it started" in job.logs.last().message


def test_cancel_with_htmx_returns_the_live_region(client, manager, running):
    client.force_login(manager)
    response = client.post(job_url("job-cancel", running), **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith(f'<div id="job-{running.pk}-live"')
    assert "Cancel asked: the job stops at its next safe point." in response.text
    assert "chip-running" in response.text  # cancelling
    assert 'hx-trigger="every 1s"' in response.text
    assert "HX-Request" in response["Vary"]


def test_retry_of_a_failed_job_queues_it_again(client, manager, failed):
    client.force_login(manager)
    response = client.post(job_url("job-retry", failed))
    assert response.status_code == 302
    assert response.url == failed.get_absolute_url()
    failed.refresh_from_db()
    assert failed.status == JobStatus.PENDING
    assert failed.finished_at is None
    assert failed.logs.last().message == "Retried by manager."
    assert "Retry queued" in client.get(response.url).text


def test_a_retried_job_shows_its_last_run_as_stopped_until_a_worker_takes_it(
    client, manager, failed
):
    client.force_login(manager)
    response = client.post(job_url("job-retry", failed), **HTMX)
    text = response.text
    assert 'class="chip chip-pending">Waiting for a worker<' in text
    assert "Where the last run stopped." in text
    assert 'class="chip chip-warning">Stopped<' in text
    assert "Running for" not in text
    assert "left</p>" not in text  # no time left while nothing runs


def test_retry_with_htmx_returns_a_polling_live_region(client, manager, failed):
    client.force_login(manager)
    response = client.post(job_url("job-retry", failed), **HTMX)
    assert "<html" not in response.text
    assert "Retry queued" in response.text
    assert 'hx-trigger="every 1s"' in response.text
    assert "HX-Request" in response["Vary"]


def test_retry_of_a_successful_job_changes_nothing(client, manager, deployment):
    job = make_job(deployment, JobStatus.SUCCESS)
    client.force_login(manager)
    response = client.post(job_url("job-retry", job))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert not job.logs.exists()
    assert "Only a failed or cancelled job can be retried." in client.get(response.url).text


def test_retry_while_the_same_work_is_running_points_to_that_job(client, manager, deployment):
    old = make_job(deployment, JobStatus.FAILURE)
    current = make_job(deployment, JobStatus.STARTED)
    client.force_login(manager)
    response = client.post(job_url("job-retry", old))
    assert response.url == current.get_absolute_url()
    assert "already running in this job" in client.get(response.url).text
    htmx = client.post(job_url("job-retry", old), **HTMX)
    assert "already running in another job" in htmx.text
    assert current.get_absolute_url() in htmx.text
    old.refresh_from_db()
    assert old.status == JobStatus.FAILURE


@pytest.mark.parametrize("action", ["job-cancel", "job-retry"])
def test_members_may_not_cancel_or_retry(client, member, running, failed, action):
    client.force_login(member)
    for job in (running, failed):
        assert client.post(job_url(action, job)).status_code == 403
        assert client.post(job_url(action, job), **HTMX).status_code == 403
    running.refresh_from_db()
    failed.refresh_from_db()
    assert (running.status, failed.status) == (JobStatus.STARTED, JobStatus.FAILURE)
    assert running.logs.count() == 2
    assert failed.logs.count() == 1


@pytest.mark.parametrize("action", ["job-cancel", "job-retry"])
def test_outsiders_and_anonymous_users_may_not_cancel_or_retry(
    client, outsider, running, failed, action
):
    for job in (running, failed):
        response = client.post(job_url(action, job))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    client.force_login(outsider)
    for job in (running, failed):
        assert client.post(job_url(action, job)).status_code == 404
    running.refresh_from_db()
    failed.refresh_from_db()
    assert (running.status, failed.status) == (JobStatus.STARTED, JobStatus.FAILURE)


@pytest.mark.parametrize("action", ["job-cancel", "job-retry"])
def test_a_post_without_the_csrf_token_is_refused(manager, running, failed, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    for job in (running, failed):
        assert client.post(job_url(action, job)).status_code == 403
    running.refresh_from_db()
    failed.refresh_from_db()
    assert (running.status, failed.status) == (JobStatus.STARTED, JobStatus.FAILURE)


def test_the_forms_carry_the_csrf_token(manager, running):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    page = client.get(running.get_absolute_url())
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    response = client.post(job_url("job-cancel", running), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLING


@pytest.mark.parametrize("action", ["job-cancel", "job-retry"])
def test_cancel_and_retry_answer_only_post(client, manager, running, action):
    client.force_login(manager)
    assert client.get(job_url(action, running)).status_code == 405


def test_staff_may_cancel_jobs_of_projects_they_are_not_members_of(client, running):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    client.post(job_url("job-cancel", running))
    running.refresh_from_db()
    assert running.status == JobStatus.CANCELLING


# Populate from the capture-set list


def populate_url(capture_set: SourceImageCollection) -> str:
    return reverse("capture-set-populate", args=[capture_set.project_id, capture_set.pk])


def test_managers_see_populate_and_members_are_told_who_can(client, manager, member, empty_set):
    list_url = reverse("capture-set-list", args=[empty_set.project_id])
    client.force_login(manager)
    text = client.get(list_url).text
    assert "This capture set is empty." in text
    assert f'action="{populate_url(empty_set)}"' in text
    assert f'hx-post="{populate_url(empty_set)}"' in text
    # The same suggested-action card as the deployment's Regroup card.
    assert f'hx-target="#capture-set-{empty_set.pk}-suggestion"' in text
    assert ">Populate</button>" in text

    client.force_login(member)
    text = client.get(list_url).text
    assert "This capture set is empty." in text
    assert "Populate</button>" not in text
    assert populate_url(empty_set) not in text
    assert "A project manager can populate it: manager." in text


def test_populate_starts_one_job_and_redirects_to_it(client, manager, empty_set):
    client.force_login(manager)
    response = client.post(populate_url(empty_set))
    job = Job.objects.get()
    assert job.job_type_key == POPULATE_JOB
    assert job.status == JobStatus.PENDING
    assert job.source_image_collection == empty_set
    assert job.created_by == manager
    assert response.status_code == 302
    assert response.url == job.get_absolute_url()
    assert "Populating “Random 100” started." in client.get(response.url).text

    again = client.post(populate_url(empty_set))
    assert again.url == job.get_absolute_url()
    assert Job.objects.count() == 1
    assert "already being populated" in client.get(again.url).text


def test_populate_with_htmx_returns_the_card_in_its_running_state(client, manager, empty_set):
    client.force_login(manager)
    response = client.post(populate_url(empty_set), **HTMX)
    job = Job.objects.get()
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith(f'<article id="capture-set-{empty_set.pk}-suggestion"')
    assert "Populating this capture set…" in response.text
    assert job.get_absolute_url() in response.text
    assert "Populate</button>" not in response.text
    assert "HX-Request" in response["Vary"]
    client.post(populate_url(empty_set), **HTMX)
    assert Job.objects.count() == 1


def test_the_list_shows_a_running_populate(client, member, empty_set):
    job = Job.objects.create(
        name="Populate capture set Random 100",
        job_type_key=POPULATE_JOB,
        project=empty_set.project,
        source_image_collection=empty_set,
        status=JobStatus.STARTED,
    )
    SourceImageCollection.objects.create(project=empty_set.project, name="Another empty set")
    client.force_login(member)
    text = client.get(reverse("capture-set-list", args=[empty_set.project_id])).text
    card = text.split(f'id="capture-set-{empty_set.pk}-card"', 1)[1].split("</article>", 1)[0]
    assert "Populating this capture set…" in card
    assert job.get_absolute_url() in card
    assert text.count("This capture set is empty.") == 1  # the other set


@pytest.mark.parametrize("htmx", [{}, HTMX])
def test_members_may_not_populate(client, member, empty_set, htmx):
    client.force_login(member)
    assert client.post(populate_url(empty_set), **htmx).status_code == 403
    assert not Job.objects.exists()


def test_outsiders_anonymous_and_get_may_not_populate(client, outsider, manager, empty_set):
    response = client.post(populate_url(empty_set))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    client.force_login(outsider)
    assert client.post(populate_url(empty_set)).status_code == 404
    client.force_login(manager)
    assert client.get(populate_url(empty_set)).status_code == 405
    assert not Job.objects.exists()


def test_populate_refuses_a_post_without_the_csrf_token(manager, empty_set):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.post(populate_url(empty_set)).status_code == 403
    assert not Job.objects.exists()


def test_populate_of_another_projects_capture_set_gives_404(client, manager, project, other_job):
    elsewhere = SourceImageCollection.objects.create(project=other_job.project, name="Theirs")
    client.force_login(manager)
    response = client.post(reverse("capture-set-populate", args=[project.pk, elsewhere.pk]))
    assert response.status_code == 404
    assert not Job.objects.filter(job_type_key=POPULATE_JOB).exists()
