"""The ungrouped-captures card, the project rollup and the occurrence banner, state by state."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from jobs import actions
from jobs.models import REGROUP_JOB, Job, JobStatus
from jobs.runner import run_job
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment, Detection, Occurrence, SourceImage, Taxon
from tests.factories import (
    HTMX,
    add_captures,
    add_nights,
    deployment_url,
    nights,
    occurrence_list_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ungrouped_and_undated(deployment: Deployment) -> Deployment:
    """Two grouped nights, then three nights synced without grouping and two undated shots."""
    add_nights(deployment, grouped=2, ungrouped=3, undated=2)
    assert deployment.source_images_without_event_count == 18
    return deployment


def page(client: Client, deployment: Deployment) -> str:
    response = client.get(deployment.get_absolute_url())
    assert response.status_code == 200
    return response.text


def card_of(text: str, deployment: Deployment) -> str:
    marker = f'id="deployment-{deployment.pk}-card"'
    return text.split(marker, 1)[1].split("</article>", 1)[0] if marker in text else ""


# Needs action


def test_a_manager_sees_the_card_with_the_number_regroup_dismiss_and_the_strip(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "18 captures aren't grouped into a session." in card
    assert "Click Regroup to fix." in card
    assert f'action="{deployment_url("deployment-regroup", ungrouped_and_undated)}"' in card
    assert f'hx-post="{deployment_url("deployment-regroup", ungrouped_and_undated)}"' in card
    assert ">Regroup</button>" in card
    assert f'action="{deployment_url("deployment-card-dismiss", ungrouped_and_undated)}"' in card
    assert "their occurrences show “no session”" in card
    assert 'role="img"' in card and 'class="night-ungrouped"' in card
    assert "2 captures have no timestamp and can't be grouped." in card
    assert f"{deployment_url('capture-list', ungrouped_and_undated)}?timestamp=none" in card


def test_numbers_are_formatted_and_pluralised(client, manager, deployment):
    client.force_login(manager)
    Deployment.objects.filter(pk=deployment.pk).update(source_images_without_event_count=165432)
    assert "165,432 captures aren't grouped into a session." in page(client, deployment)

    Deployment.objects.filter(pk=deployment.pk).update(
        source_images_without_event_count=1, source_images_without_timestamp_count=1
    )
    text = page(client, deployment)
    assert "1 capture isn't grouped into a session." in text
    assert "1 capture has no timestamp and can't be grouped." in text


def test_a_member_sees_the_message_without_the_button_and_who_can_act(
    client, member, manager, ungrouped_and_undated
):
    client.force_login(member)
    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "18 captures aren't grouped into a session." in card
    assert "Click Regroup" not in card
    assert "Regroup</button>" not in card
    assert "A project manager can regroup them: manager." in card


def test_outsiders_get_404_and_anonymous_users_are_sent_to_sign_in(
    client, outsider, ungrouped_and_undated
):
    client.force_login(outsider)
    assert client.get(ungrouped_and_undated.get_absolute_url()).status_code == 404
    assert (
        client.get(deployment_url("deployment-regroup-progress", ungrouped_and_undated)).status_code
        == 404
    )
    client.logout()
    response = client.get(ungrouped_and_undated.get_absolute_url())
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_no_card_when_everything_is_grouped_and_undated_captures_never_open_it(
    client, manager, deployment
):
    add_captures(deployment, [*nights(0, 1), None])
    regroup_deployment(deployment)
    client.force_login(manager)
    text = page(client, deployment)

    assert f'id="deployment-{deployment.pk}-card"' not in text
    assert "1 capture has no timestamp and can't be grouped." in text


# Regroup, running, done


def test_regroup_without_javascript_redirects_to_the_job_and_a_second_click_reuses_it(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    first = client.post(deployment_url("deployment-regroup", ungrouped_and_undated))
    second = client.post(deployment_url("deployment-regroup", ungrouped_and_undated))

    job = Job.objects.get()
    assert first.status_code == second.status_code == 302
    assert first.url == second.url == job.get_absolute_url()
    assert job.status == JobStatus.PENDING
    assert job.created_by == manager


def test_regroup_with_htmx_swaps_the_card_into_its_running_state(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    response = client.post(
        deployment_url("deployment-regroup", ungrouped_and_undated), {"region": "card"}, **HTMX
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert "HX-Request" in response["Vary"]
    assert response.text.strip().startswith(
        f'<article id="deployment-{ungrouped_and_undated.pk}-card"'
    )
    assert (
        f'hx-get="{deployment_url("deployment-regroup-progress", ungrouped_and_undated)}?announced='
        in response.text
    )
    assert 'hx-trigger="every 1s"' in response.text
    assert 'role="progressbar"' in response.text
    # Words for screen readers go to the page's announcer, outside the card (test_polling).
    assert "aria-live" not in response.text
    assert Job.objects.get().get_absolute_url() in response.text
    assert ">Cancel</button>" in response.text


def test_the_progress_partial_counts_while_running_then_swaps_in_done(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.STARTED,
        progress={
            "stages": [
                {
                    "key": "regroup",
                    "name": "Group",
                    "unit": "captures",
                    "status": "STARTED",
                    "done": 12,
                    "total": 18,
                }
            ]
        },
    )
    running = client.get(
        deployment_url("deployment-regroup-progress", ungrouped_and_undated), **HTMX
    )
    assert running.text.strip().startswith(
        f'<div id="deployment-{ungrouped_and_undated.pk}-card-progress"'
    )
    assert "12 of 18 captures" in running.text
    assert 'aria-valuenow="12"' in running.text
    assert 'hx-trigger="every 1s"' in running.text

    Job.objects.filter(pk=job.pk).update(status=JobStatus.PENDING)
    run_job(job.pk)
    done = client.get(deployment_url("deployment-regroup-progress", ungrouped_and_undated), **HTMX)

    assert done["HX-Retarget"] == f"#deployment-{ungrouped_and_undated.pk}-card"
    assert done["HX-Reswap"] == "outerHTML"
    assert "All captures are grouped into sessions." in done.text
    assert "18 captures grouped" in done.text
    assert "hx-trigger" not in done.text  # the poller is gone: polling stops
    assert f'id="deployment-{ungrouped_and_undated.pk}-card"' not in page(
        client, ungrouped_and_undated
    )
    ungrouped_and_undated.refresh_from_db()
    assert ungrouped_and_undated.source_images_without_event_count == 0


def test_captures_added_during_a_regroup_bring_the_card_back(
    client, manager, ungrouped_and_undated
):
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    run_job(job.pk)
    add_captures(ungrouped_and_undated, nights(9, 1))
    ungrouped_and_undated.update_calculated_fields()
    client.force_login(manager)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "6 captures aren't grouped into a session." in card
    assert ">Regroup</button>" in card


def test_cancel_from_the_card_asks_the_running_job_to_stop(client, manager, ungrouped_and_undated):
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.STARTED)
    client.force_login(manager)

    response = client.post(
        deployment_url("deployment-regroup-cancel", ungrouped_and_undated), **HTMX
    )

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    assert "Stopping at the next safe point" in response.text


# Failed or cancelled


def test_a_failed_regroup_says_so_with_its_error_and_retry_runs_it_again(
    client, manager, ungrouped_and_undated, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    monkeypatch.setattr("jobs.regroup.regroup_deployment", broken)
    run_job(job.pk)
    client.force_login(manager)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)
    assert "The last run failed" in card
    assert "Failed: the database went away" in card
    assert job.get_absolute_url() in card
    assert ">Retry</button>" in card

    response = client.post(
        deployment_url("deployment-regroup-retry", ungrouped_and_undated), **HTMX
    )
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert Job.objects.count() == 1
    assert 'hx-trigger="every 1s"' in response.text


def cancelled_mid_run(deployment: Deployment, by) -> Job:
    """A regroup cancelled by `by` after grouping 42,631 of 99,632 captures, as the worker
    leaves it when it stops at a safe point."""
    job, _ = actions.start(REGROUP_JOB, deployment, by)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.STARTED)
    actions.cancel_job(job, by)
    stage = {"key": "regroup", "name": "Group", "unit": "captures", "status": "REVOKED"}
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.REVOKED, progress={"stages": [{**stage, "done": 42631, "total": 99632}]}
    )
    return job


def test_your_own_cancel_is_neutral_and_offers_regroup_not_retry(
    client, manager, ungrouped_and_undated
):
    job = cancelled_mid_run(ungrouped_and_undated, manager)
    client.force_login(manager)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "card-cancelled" in card
    assert 'role="alert"' not in card and "banner-error" not in card
    notice = card.split('class="banner banner-warning" role="status"', 1)[1].split("</div>")[0]
    assert (
        "You cancelled the regroup at 42,631 of 99,632 captures. "
        "Captures grouped so far stay grouped." in notice
    )
    assert job.get_absolute_url() in notice
    assert ">Regroup</button>" in card
    assert f'action="{deployment_url("deployment-regroup", ungrouped_and_undated)}"' in card
    assert f'hx-post="{deployment_url("deployment-regroup", ungrouped_and_undated)}"' in card
    assert "Retry" not in card
    assert "failed" not in card


def test_someone_elses_cancel_is_not_yours(client, manager, member, ungrouped_and_undated):
    cancelled_mid_run(ungrouped_and_undated, manager)
    client.force_login(member)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "The regroup was cancelled at 42,631 of 99,632 captures." in card
    assert "You cancelled" not in card
    assert "Regroup</button>" not in card  # a member can't act


def test_a_cancel_before_the_worker_started_says_nothing_was_grouped(
    client, manager, ungrouped_and_undated
):
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    actions.cancel_job(job, manager)
    client.force_login(manager)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert "You cancelled the regroup before it grouped any captures." in card
    assert 'role="status"' in card and ">Regroup</button>" in card


def test_a_failed_regroup_stays_an_alert_with_retry(client, manager, ungrouped_and_undated):
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILURE)
    job.log("Failed: the disk is full", "ERROR")
    client.force_login(manager)

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)

    assert 'class="banner banner-error" role="alert"' in card
    assert "The last run failed" in card and "the disk is full" in card
    assert ">Retry</button>" in card and ">Regroup</button>" not in card


# Who may post


@pytest.mark.parametrize(
    "name",
    [
        "deployment-regroup",
        "deployment-regroup-cancel",
        "deployment-regroup-retry",
    ],
)
def test_members_get_403_and_nothing_happens(client, member, ungrouped_and_undated, name):
    client.force_login(member)
    assert client.post(deployment_url(name, ungrouped_and_undated)).status_code == 403
    assert client.post(deployment_url(name, ungrouped_and_undated), **HTMX).status_code == 403
    assert not Job.objects.exists()


def test_anonymous_posts_and_gets_change_nothing(client, manager, ungrouped_and_undated):
    response = client.post(deployment_url("deployment-regroup", ungrouped_and_undated))
    assert response.status_code == 302 and "/accounts/login/" in response.url
    client.force_login(ungrouped_and_undated.project.memberships.get().user)
    assert (
        client.get(deployment_url("deployment-regroup", ungrouped_and_undated)).status_code == 405
    )
    assert not Job.objects.exists()


def test_posts_without_a_csrf_token_are_refused(manager, ungrouped_and_undated):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    for name in ("deployment-regroup", "deployment-card-dismiss", "deployment-regroup-retry"):
        assert client.post(deployment_url(name, ungrouped_and_undated)).status_code == 403
    assert not Job.objects.exists()
    assert "18 captures" in page(client, ungrouped_and_undated)


def test_another_projects_deployment_gives_404(client, manager, ungrouped_and_undated, db):
    from monitoring.models import Project

    elsewhere = Deployment.objects.create(project=Project.objects.create(name="Other"), name="X")
    client.force_login(manager)
    other_url = reverse("deployment-regroup", args=[ungrouped_and_undated.project_id, elsewhere.pk])
    assert client.post(other_url).status_code == 404


# Dismiss


def test_dismiss_hides_the_card_for_that_user_until_the_number_grows(
    client, manager, member, ungrouped_and_undated
):
    client.force_login(manager)
    response = client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated), **HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    # The answer is the line that takes the card's place, under the card's own id.
    assert response.text.strip().startswith(f'<div id="deployment-{ungrouped_and_undated.pk}-card"')
    assert "1 hidden suggestion" in response.text
    assert "<article" not in page(client, ungrouped_and_undated)
    assert "1 hidden suggestion" in page(client, ungrouped_and_undated)

    client.force_login(member)  # dismissal is per user
    assert "18 captures aren't grouped" in card_of(
        page(client, ungrouped_and_undated), ungrouped_and_undated
    )

    client.force_login(manager)
    add_captures(ungrouped_and_undated, nights(20, 1))
    ungrouped_and_undated.update_calculated_fields()
    assert "24 captures" in card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)


def test_a_dismissed_card_leaves_a_line_whose_show_brings_it_back(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated))

    line = page(client, ungrouped_and_undated).split(
        f'<div id="deployment-{ungrouped_and_undated.pk}-card"', 1
    )[1]
    line = line.split("</div>", 1)[0]
    assert "1 hidden suggestion" in line and ">Show</button>" in line
    assert "captures aren't grouped" not in line
    # A plain form (no JavaScript needed) that htmx posts in place.
    assert 'method="post"' in line and "csrfmiddlewaretoken" in line
    assert f'action="{deployment_url("deployment-card-show", ungrouped_and_undated)}"' in line
    assert f'hx-post="{deployment_url("deployment-card-show", ungrouped_and_undated)}"' in line
    assert f'hx-target="#deployment-{ungrouped_and_undated.pk}-card"' in line

    shown = client.post(deployment_url("deployment-card-show", ungrouped_and_undated), **HTMX)
    assert shown.text.strip().startswith(
        f'<article id="deployment-{ungrouped_and_undated.pk}-card"'
    )
    assert "18 captures aren't grouped into a session." in shown.text
    assert "HX-Request" in shown["Vary"]
    assert "18 captures aren't grouped" in card_of(
        page(client, ungrouped_and_undated), ungrouped_and_undated
    )


def test_show_without_javascript_redirects_to_the_card(client, manager, ungrouped_and_undated):
    client.force_login(manager)
    client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated))

    response = client.post(deployment_url("deployment-card-show", ungrouped_and_undated))

    assert response.status_code == 302 and response.url == ungrouped_and_undated.get_absolute_url()
    assert ">Regroup</button>" in card_of(client.get(response.url).text, ungrouped_and_undated)


def test_a_dismissal_ends_when_everything_is_grouped(
    client, manager, member, ungrouped_and_undated
):
    """Dismissed at 18, regrouped to 0, then 6 new ungrouped captures: fewer than were
    dismissed, but news, so the card is back for the one who dismissed it."""
    client.force_login(manager)
    client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated))
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    run_job(job.pk)
    ungrouped_and_undated.refresh_from_db()
    assert ungrouped_and_undated.source_images_without_event_count == 0

    add_captures(ungrouped_and_undated, nights(30, 1))
    ungrouped_and_undated.update_calculated_fields()

    card = card_of(page(client, ungrouped_and_undated), ungrouped_and_undated)
    assert "6 captures aren't grouped into a session." in card
    assert ">Regroup</button>" in card
    assert "hidden suggestion" not in page(client, ungrouped_and_undated)


def test_a_dismissal_follows_the_count_down_and_ends_when_it_grows(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated))
    # 12 of the 18 go away (deleted at the source): still dismissed, at 6 now.
    SourceImage.objects.filter(
        pk__in=SourceImage.objects.filter(
            deployment=ungrouped_and_undated, event=None, timestamp__isnull=False
        ).values("pk")[:12]
    ).delete()
    ungrouped_and_undated.update_calculated_fields()
    assert "1 hidden suggestion" in page(client, ungrouped_and_undated)

    add_captures(ungrouped_and_undated, nights(40, 1))  # 6 more: 12, below the 18 first dismissed
    ungrouped_and_undated.update_calculated_fields()

    assert "12 captures aren't grouped" in card_of(
        page(client, ungrouped_and_undated), ungrouped_and_undated
    )


def test_dismiss_without_javascript_redirects_back(client, manager, ungrouped_and_undated):
    client.force_login(manager)
    response = client.post(deployment_url("deployment-card-dismiss", ungrouped_and_undated))
    assert response.status_code == 302 and response.url == ungrouped_and_undated.get_absolute_url()
    text = client.get(response.url).text
    assert "It comes back if more captures need grouping, or with Show." in text
    assert "1 hidden suggestion" in text


# Project rollup


def test_the_project_page_rolls_up_ungrouped_deployments(
    client, manager, ungrouped_and_undated, project
):
    Deployment.objects.create(project=project, name="Station B")
    client.force_login(manager)

    text = client.get(project.get_absolute_url()).text

    assert "1 of 2 deployments has 18 captures that aren&#x27;t grouped into sessions." in text
    row = text.split(f'id="rollup-deployment-{ungrouped_and_undated.pk}"', 1)[1].split("</li>", 1)[
        0
    ]
    assert ungrouped_and_undated.get_absolute_url() in row
    assert "18 captures" in row
    assert ">Regroup</button>" in row


def test_regroup_from_the_rollup_swaps_the_row_and_the_row_follows_the_job(
    client, manager, member, ungrouped_and_undated
):
    client.force_login(manager)
    response = client.post(
        deployment_url("deployment-regroup", ungrouped_and_undated),
        {"region": "rollup-row"},
        **HTMX,
    )

    assert response.text.strip().startswith(
        f'<li id="rollup-deployment-{ungrouped_and_undated.pk}"'
    )
    assert (
        f'hx-get="{deployment_url("deployment-rollup-row", ungrouped_and_undated)}?seen='
        in response.text
    )
    assert 'role="progressbar"' in response.text
    # Before the worker reports, the bar counts from 0 of the ungrouped captures.
    assert "0 of 18 captures" in response.text and "Counting" not in response.text
    assert "hx-swap-oob" not in response.text  # nothing else changed yet

    client.force_login(member)
    text = client.get(ungrouped_and_undated.project.get_absolute_url()).text
    assert "Follow the job" in text
    assert "Regroup</button>" not in text


def test_the_rollup_row_that_sees_its_job_end_refreshes_the_heading_and_table_row(
    client, manager, ungrouped_and_undated, project
):
    other = Deployment.objects.create(project=project, name="Station B")
    add_captures(other, nights(0, 1))
    other.update_calculated_fields()
    client.force_login(manager)
    before = client.get(project.get_absolute_url()).text
    assert "2 of 2 deployments have 24 captures that aren&#x27;t grouped" in before
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)

    running = client.get(deployment_url("deployment-rollup-row", ungrouped_and_undated), **HTMX)
    assert "hx-swap-oob" not in running.text

    run_job(job.pk)
    ended = client.get(deployment_url("deployment-rollup-row", ungrouped_and_undated), **HTMX).text

    assert ended.strip().startswith(f'<li id="rollup-deployment-{ungrouped_and_undated.pk}"')
    assert "All grouped now." in ended
    heading = ended.split('<div id="rollup-summary" hx-swap-oob="true">', 1)[1]
    heading = heading.split("</div>", 1)[0]
    assert "1 of 2 deployments has 6 captures that aren&#x27;t grouped" in heading
    row = ended.split(f'<tr id="deployment-{ungrouped_and_undated.pk}-row" hx-swap-oob="true">', 1)[
        1
    ]
    cells = [cell.split(">", 1)[1] for cell in row.split("</tr>", 1)[0].split("</td>")[:-1]]
    ungrouped_and_undated.refresh_from_db()
    assert cells[1] == "32"  # captures
    assert (
        f">{ungrouped_and_undated.events_count}</a>" in cells[2]
    )  # sessions, now with the new ones
    assert cells[7:] == ["0", "2"]  # without session, without timestamp


def test_when_the_last_rollup_row_ends_the_heading_says_all_is_grouped(
    client, manager, ungrouped_and_undated
):
    client.force_login(manager)
    job, _ = actions.start(REGROUP_JOB, ungrouped_and_undated, manager)
    run_job(job.pk)

    ended = client.get(deployment_url("deployment-rollup-row", ungrouped_and_undated), **HTMX).text

    heading = ended.split('<div id="rollup-summary" hx-swap-oob="true">', 1)[1]
    assert "All captures are grouped into sessions now." in heading.split("</div>", 1)[0]


# Occurrence banner


@pytest.fixture
def occurrences(ungrouped_and_undated, project):
    """One occurrence on a grouped night and two on ungrouped nights, of two taxa."""
    moth, beetle = Taxon.objects.create(name="Noctua pronuba"), Taxon.objects.create(name="B")
    captures = list(
        SourceImage.objects.filter(
            deployment=ungrouped_and_undated, timestamp__isnull=False
        ).order_by("timestamp")
    )
    for capture, taxon in ((captures[0], moth), (captures[-4], moth), (captures[-3], beetle)):
        occurrence = Occurrence.objects.create(
            project=project,
            deployment=ungrouped_and_undated,
            event=capture.event,
            determination=taxon,
        )
        Detection.objects.create(source_image=capture, occurrence=occurrence)
    ungrouped_and_undated.update_calculated_fields()
    return moth


def test_the_occurrence_list_explains_occurrences_without_a_session(
    client, member, project, ungrouped_and_undated, occurrences
):
    client.force_login(member)
    text = client.get(occurrence_list_url(project)).text

    banner = text.split('id="occurrence-banner"', 1)[1].split("</div>", 1)[0]
    assert "2 occurrences in this list have no session" in banner
    assert f'<a href="{ungrouped_and_undated.get_absolute_url()}">Station A</a> (18)' in banner
    assert "aren't grouped into sessions" in banner
    assert text.count("<tr") == 4  # the list still shows, under the banner

    by_taxon = client.get(occurrence_list_url(project, taxon=occurrences.pk)).text
    assert "1 occurrence in this list has no session" in by_taxon

    session = Occurrence.objects.exclude(event=None).get().event
    assert (
        'id="occurrence-banner"'
        not in client.get(occurrence_list_url(project, session=session.pk)).text
    )


def test_the_banner_names_a_few_deployments_then_counts_the_rest(client, member, project):
    for number in range(5):
        deployment = Deployment.objects.create(project=project, name=f"Trap {number}")
        capture = add_captures(deployment, nights(0, 1))[0]
        occurrence = Occurrence.objects.create(project=project, deployment=deployment)
        Detection.objects.create(source_image=capture, occurrence=occurrence)
        deployment.update_calculated_fields()
    client.force_login(member)

    text = client.get(occurrence_list_url(project)).text

    assert "5 occurrences in this list have no session" in text
    assert "and 2 more deployments" in text
