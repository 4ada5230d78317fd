"""Polling a running job: unchanged polls answered 204, pollers that slow down, words for
screen readers only when they change, and the partials' URLs without htmx or JavaScript."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import POPULATE_JOB, Job, JobStatus
from monitoring.models import Deployment, SourceImageCollection
from tests.factories import HTMX, make_job, regroup_progress

pytestmark = pytest.mark.django_db

UNGROUPED = 1_000


def progress(done: int, status: str = "STARTED", eta_seconds: int | None = None) -> dict:
    return regroup_progress(status, done=done, total=UNGROUPED, eta_seconds=eta_seconds)


@pytest.fixture
def watched(deployment: Deployment) -> Deployment:
    """A deployment whose stored counts say 1,000 captures have no session."""
    Deployment.objects.filter(pk=deployment.pk).update(source_images_without_event_count=UNGROUPED)
    deployment.refresh_from_db()
    return deployment


@pytest.fixture
def regroup(watched: Deployment, manager) -> Job:
    """A regroup of `watched`, running, 10% done."""
    return make_job(watched, progress=progress(100), started_at=timezone.now(), created_by=manager)


@pytest.fixture
def populate(project) -> Job:
    """An empty capture set whose Populate job waits for a worker."""
    collection = SourceImageCollection.objects.create(
        project=project, name="Random 100", method=SourceImageCollection.Method.RANDOM
    )
    return Job.objects.create(
        name="Populate capture set Random 100",
        job_type_key=POPULATE_JOB,
        project=project,
        source_image_collection=collection,
        status=JobStatus.PENDING,
    )


def move(job: Job, **fields) -> None:
    Job.objects.filter(pk=job.pk).update(**fields)


def card_id(job: Job) -> str:
    return f"deployment-{job.deployment_id}-card"


def poller(text: str, element_id: str) -> tuple[str, int]:
    """The URL and interval (seconds) of the poller with this id, as htmx reads them."""
    tag = re.search(rf'<[^>]* id="{element_id}"[^>]*>', text)
    assert tag, f"no element {element_id}"
    url = re.search(r'hx-get="([^"]+)"', tag.group(0))
    every = re.search(r'hx-trigger="every (\d+)s"', tag.group(0))
    assert url and every, f"{element_id} does not poll: {tag.group(0)}"
    return html.unescape(url.group(1)), int(every.group(1))


def card_poller(client: Client, job: Job) -> tuple[str, int]:
    page = client.get(job.deployment.get_absolute_url())
    return poller(page.text, f"{card_id(job)}-progress")


def announced(text: str, job: Job) -> str | None:
    """What a response puts in the card's announcer, out of band (None: nothing)."""
    found = re.search(
        rf'<p id="{card_id(job)}-announce"[^>]*hx-swap-oob="innerHTML"[^>]*>(.*?)</p>',
        text,
        re.S,
    )
    return " ".join(found.group(1).split()) if found else None


# Unchanged polls


def test_a_poll_that_would_change_nothing_gets_204_without_rendering(
    client, member, regroup, django_assert_max_num_queries
):
    client.force_login(member)
    url, _ = card_poller(client, regroup)
    # Who is asking (session, user), may they see the project, and the job: nothing else.
    with django_assert_max_num_queries(4):
        response = client.get(url, **HTMX)
    assert response.status_code == 204
    assert response.content == b""
    assert "HX-Request" in response["Vary"]


def test_a_poll_after_the_job_moved_gets_its_progress_and_a_new_token(client, member, regroup):
    client.force_login(member)
    url, _ = card_poller(client, regroup)
    move(regroup, progress=progress(250))

    response = client.get(url, **HTMX)

    assert response.status_code == 200
    assert "250 of 1,000 captures" in response.text
    new_url, _ = poller(response.text, f"{card_id(regroup)}-progress")
    assert new_url != url
    assert client.get(new_url, **HTMX).status_code == 204


def test_a_running_card_poll_reads_only_the_job_and_its_deployment(
    client, member, regroup, django_assert_max_num_queries
):
    client.force_login(member)
    url = reverse("deployment-regroup-progress", args=[regroup.project_id, regroup.deployment_id])
    client.get(url, **HTMX)  # the session and user lookups warmed
    with django_assert_max_num_queries(4):
        response = client.get(url, **HTMX)
    assert f'id="{card_id(regroup)}-progress"' in response.text
    assert "100 of 1,000 captures" in response.text


@pytest.mark.parametrize("where", ["job list", "job page", "project rollup", "capture sets"])
def test_every_poller_gets_204_until_its_job_changes(client, member, regroup, populate, where):
    job = populate if where == "capture sets" else regroup
    page, element = {
        "job list": (reverse("job-list", args=[job.project_id]), f"job-{job.pk}-row"),
        "job page": (job.get_absolute_url(), f"job-{job.pk}-live"),
        "project rollup": (
            job.project.get_absolute_url(),
            f"rollup-deployment-{job.deployment_id}",
        ),
        "capture sets": (
            reverse("capture-set-list", args=[job.project_id]),
            f"capture-set-{job.source_image_collection_id}-suggestion-progress",
        ),
    }[where]
    client.force_login(member)
    url, _ = poller(client.get(page).text, element)

    assert client.get(url, **HTMX).status_code == 204

    move(job, status=JobStatus.STARTED, progress=progress(500))
    response = client.get(url, **HTMX)
    assert response.status_code == 200
    assert f'id="{element}"' in response.text


def test_the_job_page_poll_brings_new_log_lines(client, member, regroup):
    client.force_login(member)
    url, _ = poller(client.get(regroup.get_absolute_url()).text, f"job-{regroup.pk}-live")
    assert client.get(url, **HTMX).status_code == 204

    regroup.log("Chunk 2 of 40 written.")

    response = client.get(url, **HTMX)
    assert response.status_code == 200
    assert "Chunk 2 of 40 written." in response.text


def test_a_poll_is_no_way_around_who_may_see_the_project(client, member, outsider, regroup):
    client.force_login(member)
    url, _ = card_poller(client, regroup)
    client.force_login(outsider)
    assert client.get(url, **HTMX).status_code == 404
    client.logout()
    signed_out = client.get(url, **HTMX)
    assert signed_out.status_code == 200  # htmx is told to load the sign-in page instead
    assert "HX-Redirect" in signed_out


# Slowing down


@pytest.mark.parametrize(
    ("seconds_since_it_changed", "every"), [(0, 1), (20, 2), (45, 3), (300, 5), (3600, 5)]
)
def test_pollers_slow_down_as_the_job_goes_on(
    client, member, regroup, seconds_since_it_changed, every
):
    move(regroup, updated_at=timezone.now() - timedelta(seconds=seconds_since_it_changed))
    client.force_login(member)
    assert card_poller(client, regroup)[1] == every
    row = client.get(reverse("job-list", args=[regroup.project_id])).text
    assert poller(row, f"job-{regroup.pk}-row")[1] == every


@pytest.mark.parametrize(("seconds_left", "every"), [(3, 1), (8, 4), (60, 5)])
def test_near_a_stages_end_pollers_ask_often_again(client, member, regroup, seconds_left, every):
    move(
        regroup,
        updated_at=timezone.now() - timedelta(minutes=10),
        progress=progress(900, eta_seconds=seconds_left),
    )
    client.force_login(member)
    assert card_poller(client, regroup)[1] == every


def test_a_poller_due_to_slow_down_is_renewed_though_the_job_did_not_move(client, member, regroup):
    client.force_login(member)
    url, every = card_poller(client, regroup)
    assert every == 1
    move(regroup, updated_at=timezone.now() - timedelta(minutes=2))

    response = client.get(url, **HTMX)

    assert response.status_code == 200
    assert poller(response.text, f"{card_id(regroup)}-progress")[1] == 5


# Words for screen readers


def test_the_cards_announcer_sits_outside_the_card_and_starts_silent(client, member, regroup):
    client.force_login(member)
    text = client.get(regroup.deployment.get_absolute_url()).text
    card = text.split(f'<article id="{card_id(regroup)}"', 1)[1].split("</article>", 1)[0]
    assert "aria-live" not in card  # the bar's swaps are not read out
    after = text.split(f'<article id="{card_id(regroup)}"', 1)[1].split("</article>", 1)[1]
    assert re.search(
        rf'<p id="{card_id(regroup)}-announce" class="visually-hidden" aria-live="polite"></p>',
        after,
    )


def test_the_card_announces_each_tenth_and_status_not_each_poll(client, member, regroup):
    client.force_login(member)
    url, _ = card_poller(client, regroup)

    move(regroup, progress=progress(150))  # still in the same tenth
    same_tenth = client.get(url, **HTMX)
    assert "150 of 1,000 captures" in same_tenth.text
    assert announced(same_tenth.text, regroup) is None

    url, _ = poller(same_tenth.text, f"{card_id(regroup)}-progress")
    move(regroup, progress=progress(230))
    next_tenth = client.get(url, **HTMX)
    assert announced(next_tenth.text, regroup) == "Running: Group captures into sessions, 20% done."

    url, _ = poller(next_tenth.text, f"{card_id(regroup)}-progress")
    move(regroup, status=JobStatus.CANCELLING)
    cancelling = announced(client.get(url, **HTMX).text, regroup)
    assert cancelling == "Cancelling: Group captures into sessions, 20% done."


def test_the_outcome_is_announced_once_with_the_final_card(client, member, regroup, watched):
    client.force_login(member)
    url, _ = card_poller(client, regroup)
    move(regroup, status=JobStatus.SUCCESS, progress=progress(UNGROUPED, "SUCCESS"))
    Deployment.objects.filter(pk=watched.pk).update(source_images_without_event_count=0)

    response = client.get(url, **HTMX)

    assert response["HX-Retarget"] == f"#{card_id(regroup)}"
    assert "All captures are grouped into sessions." in response.text
    assert "hx-trigger" not in response.text
    assert announced(response.text, regroup) == "Regroup sessions of Station A: Succeeded."
    assert response.text.count(f'id="{card_id(regroup)}-announce"') == 1


# Without htmx, without JavaScript


@pytest.mark.parametrize("partial", ["card progress", "rollup row", "capture set progress"])
def test_a_partials_url_opened_without_htmx_redirects_to_its_page(
    client, member, regroup, populate, partial
):
    project = regroup.project
    on_deployment = [project.pk, regroup.deployment_id]
    url, page = {
        "card progress": (
            reverse("deployment-regroup-progress", args=on_deployment),
            regroup.deployment.get_absolute_url(),
        ),
        "rollup row": (
            reverse("deployment-rollup-row", args=on_deployment),
            project.get_absolute_url(),
        ),
        "capture set progress": (
            reverse("capture-set-progress", args=[project.pk, populate.source_image_collection_id]),
            reverse("capture-set-list", args=[project.pk]),
        ),
    }[partial]
    client.force_login(member)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == page
    assert "HX-Request" in response["Vary"]
    fragment = client.get(url, **HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "HX-Request" in fragment["Vary"]


def test_a_partials_url_for_something_missing_is_404_with_or_without_htmx(client, member, project):
    client.force_login(member)
    for name in ("deployment-regroup-progress", "deployment-rollup-row"):
        url = reverse(name, args=[project.pk, 999_999])
        assert client.get(url).status_code == 404
        assert client.get(url, **HTMX).status_code == 404


def test_without_javascript_the_job_page_reloads_itself_while_the_job_is_active(
    client, member, regroup
):
    client.force_login(member)
    refresh = '<noscript><meta http-equiv="refresh" content="3"></noscript>'
    note = "This page reloads every 3 seconds while the job is active."

    active = client.get(regroup.get_absolute_url()).text
    assert refresh in active.split("</head>", 1)[0]
    assert note in active

    move(regroup, status=JobStatus.SUCCESS, finished_at=timezone.now())
    ended = client.get(regroup.get_absolute_url()).text
    assert refresh not in ended
    assert note not in ended
    assert "hx-trigger" not in ended
