"""The "sessions out of date" card state by state, its full Regroup, one card for both
problems, and the project rollup listing either problem in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.models import REGROUP_JOB, Job, JobStatus
from monitoring.models import Deployment, Project
from tests.factories import HTMX, START, add_nights, deployment_url, make_job, make_session

pytestmark = pytest.mark.django_db

GAP_CHANGED = (
    "Sessions of this deployment were grouped with a 2-hour gap; the project now uses 1 hour."
)


def change_gap(project: Project, seconds: int) -> None:
    project.session_time_gap_seconds = seconds
    project.save()


@pytest.fixture
def stale(project: Project, deployment: Deployment) -> Deployment:
    """Two nights grouped under the 2-hour gap; the project now uses 1 hour."""
    add_nights(deployment, grouped=2)
    change_gap(project, 3600)
    deployment.refresh_from_db()
    return deployment


def long_session(deployment: Deployment, day: int, hours: int) -> None:
    """A session `hours` long from an hour into the night `day` (beside any drawn there)."""
    make_session(deployment, START + timedelta(days=day, hours=1), timedelta(hours=hours))


def card_of(client: Client, deployment: Deployment) -> str:
    text = client.get(deployment.get_absolute_url()).text
    marker = f'id="deployment-{deployment.pk}-card"'
    return text.split(marker, 1)[1].split("</article>", 1)[0] if marker in text else ""


def full_job(deployment: Deployment, status: str, **fields) -> Job:
    return make_job(deployment, status, params={"full": True}, **fields)


# Needs action


def test_a_changed_gap_shows_the_card_with_a_regroup(client, manager, stale):
    client.force_login(manager)
    card = card_of(client, stale)

    assert f"{GAP_CHANGED} Click Regroup to apply." in card
    assert f'action="{deployment_url("deployment-regroup", stale)}"' in card
    assert ">Regroup</button>" in card
    assert "Dismiss" not in card
    assert "aren't grouped" not in card


def test_sessions_longer_than_24_hours_are_counted_and_pluralised(client, manager, deployment):
    add_nights(deployment, grouped=1)
    for day in (10, 12, 14):
        long_session(deployment, day, 30)
    client.force_login(manager)

    assert "3 sessions are longer than 24 hours. Click Regroup to split them." in card_of(
        client, deployment
    )
    deployment.events.filter(start__gt=START + timedelta(days=11)).delete()
    assert "1 session is longer than 24 hours. Click Regroup to split them." in card_of(
        client, deployment
    )


def test_overlapping_sessions_say_so(client, manager, deployment):
    add_nights(deployment, grouped=1)
    # From inside the first night's session (21:00 to 21:50) to 23:05.
    make_session(deployment, START + timedelta(minutes=5), timedelta(hours=2))
    client.force_login(manager)
    assert "1 session overlaps an earlier one. Click Regroup to redraw them." in card_of(
        client, deployment
    )


def test_ungrouped_captures_and_out_of_date_sessions_make_one_card(
    client, manager, project, deployment
):
    add_nights(deployment, grouped=2, ungrouped=1)
    change_gap(project, 3600)
    client.force_login(manager)
    text = client.get(deployment.get_absolute_url()).text

    assert text.count('class="card card-action') == 1
    card = card_of(client, deployment)
    assert (
        f"6 captures aren't grouped into a session. {GAP_CHANGED} Click Regroup to fix both."
        in (card)
    )
    assert card.count(">Regroup</button>") == 1


def test_a_member_sees_the_words_and_who_can_act(client, member, manager, stale):
    client.force_login(member)
    card = card_of(client, stale)
    assert GAP_CHANGED in card
    assert "Click Regroup" not in card
    assert "<button" not in card
    assert "A project manager can regroup them: manager." in card


def test_regroup_from_the_card_runs_a_full_regroup(client, manager, stale):
    client.force_login(manager)
    response = client.post(deployment_url("deployment-regroup", stale), {"region": "card"}, **HTMX)

    job = Job.objects.of_type(REGROUP_JOB).get()
    assert job.params == {"full": True}
    assert "Redrawing every session of this deployment…" in response.text
    assert f'hx-get="{deployment_url("deployment-regroup-progress", stale)}' in response.text


def test_regroup_of_an_up_to_date_deployment_stays_incremental(
    client, manager, project, deployment
):
    add_nights(deployment, grouped=1, ungrouped=1)
    client.force_login(manager)
    client.post(deployment_url("deployment-regroup", deployment))
    assert Job.objects.of_type(REGROUP_JOB).get().params == {}


# Running, done, failed, cancelled


def test_a_running_full_regroup_shows_the_running_card(client, manager, stale):
    full_job(stale, JobStatus.STARTED)
    client.force_login(manager)
    card = card_of(client, stale)
    assert "Redrawing every session of this deployment…" in card
    assert 'role="progressbar"' in card
    assert ">Cancel</button>" in card

    poll = client.get(deployment_url("deployment-regroup-progress", stale), **HTMX)
    assert poll.status_code == 200
    assert 'hx-trigger="every' in poll.text


def test_the_card_says_done_when_the_regroup_ends_and_swaps_out_on_reload(
    client, manager, project, stale
):
    job = full_job(stale, JobStatus.SUCCESS, result={"captures_grouped": 0})
    Deployment.objects.filter(pk=stale.pk).update(sessions_gap_seconds=3600)
    client.force_login(manager)

    ended = client.get(deployment_url("deployment-regroup-progress", stale), **HTMX)

    assert ended["HX-Retarget"] == f"#deployment-{stale.pk}-card"
    assert "Every session follows the project&#x27;s rules." in ended.text
    assert f"{job.name} finished." in ended.text
    assert "hx-trigger" not in ended.text.split("</article>", 1)[0]
    assert card_of(client, stale) == ""


def test_a_failed_full_regroup_offers_retry_with_the_problem_still_said(client, manager, stale):
    job = full_job(stale, JobStatus.FAILURE)
    job.log("The database went away.", "ERROR")
    client.force_login(manager)
    card = card_of(client, stale)

    assert GAP_CHANGED in card
    assert 'The last run failed: <span class="banner-detail">The database went away.' in card
    assert ">Retry</button>" in card
    assert f'action="{deployment_url("deployment-regroup-retry", stale)}"' in card


def test_a_cancelled_full_regroup_says_so(client, manager, stale):
    full_job(
        stale,
        JobStatus.REVOKED,
        cancelled_by=manager,
        progress={
            "stages": [
                {
                    "key": "regroup",
                    "name": "Group captures into sessions",
                    "unit": "captures",
                    "status": JobStatus.REVOKED,
                    "done": 1_200,
                    "total": 4_800,
                }
            ]
        },
    )
    client.force_login(manager)
    card = card_of(client, stale)

    assert GAP_CHANGED in card
    assert (
        "You cancelled the regroup at 1,200 of 4,800 captures. Sessions redrawn so far stay; "
        "Regroup again to finish." in card
    )
    assert ">Regroup</button>" in card


# The project rollup


def test_the_rollup_lists_either_problem_and_agrees_with_the_cards(client, manager, project):
    fine = Deployment.objects.create(project=project, name="Fine")
    ungrouped = Deployment.objects.create(project=project, name="Ungrouped")
    stale = Deployment.objects.create(project=project, name="Stale")
    add_nights(fine, grouped=1)
    add_nights(ungrouped, grouped=1, ungrouped=2)
    add_nights(stale, grouped=2)
    Deployment.objects.filter(pk=stale.pk).update(sessions_gap_seconds=3600)
    client.force_login(manager)

    text = client.get(project.get_absolute_url()).text

    assert (
        "2 of 3 deployments need a regroup: 12 captures aren&#x27;t grouped into sessions, "
        "and 1 has sessions out of date." in text
    )
    rows = text.split('<ul class="rollup">', 1)[1].split("</ul>", 1)[0]
    assert f'id="rollup-deployment-{ungrouped.pk}"' in rows
    assert f'id="rollup-deployment-{stale.pk}"' in rows
    assert f'id="rollup-deployment-{fine.pk}"' not in rows
    stale_row = rows.split(f'id="rollup-deployment-{stale.pk}"', 1)[1].split("</li>", 1)[0]
    assert "sessions out of date" in stale_row and "captures" not in stale_row
    assert ">Regroup</button>" in stale_row
    assert "grouped with a gap of 1 hour" not in card_of(client, fine)
    assert "were grouped with a 1-hour gap; the project now uses 2 hours." in card_of(client, stale)


def test_only_out_of_date_deployments_have_their_own_heading(client, manager, stale):
    client.force_login(manager)
    text = client.get(stale.project.get_absolute_url()).text
    assert "1 of 1 deployment has sessions out of date." in text


def test_regroup_from_the_rollup_row_is_full_for_an_out_of_date_deployment(client, manager, stale):
    client.force_login(manager)
    response = client.post(
        deployment_url("deployment-regroup", stale), {"region": "rollup-row"}, **HTMX
    )
    assert response.text.strip().startswith(f'<li id="rollup-deployment-{stale.pk}"')
    assert Job.objects.of_type(REGROUP_JOB).get().params == {"full": True}


@pytest.mark.parametrize("viewer", ["member", "manager"])
def test_the_project_page_runs_as_many_queries_for_5_deployments_as_for_1(
    client, project, member, manager, viewer
):
    """The out-of-date checks answer for the whole project at once, never per deployment."""
    client.force_login({"member": member, "manager": manager}[viewer])

    def queries_for(count: int) -> int:
        project.deployments.all().delete()
        for n in range(count):
            deployment = Deployment.objects.create(project=project, name=f"Station {n}")
            add_nights(deployment, grouped=1, ungrouped=1)
            long_session(deployment, 5, 30)
            Deployment.objects.filter(pk=deployment.pk).update(sessions_gap_seconds=60)
        with CaptureQueriesContext(connection) as queries:
            text = client.get(project.get_absolute_url()).text
        assert text.count("sessions out of date") == count + 1  # the rows and the heading
        return len(queries)

    assert queries_for(5) == queries_for(1)


def test_retry_after_sessions_went_out_of_date_runs_a_full_regroup(client, manager, stale):
    failed = make_job(stale, JobStatus.FAILURE)  # an ordinary regroup, before the change
    client.force_login(manager)

    client.post(deployment_url("deployment-regroup-retry", stale))

    failed.refresh_from_db()
    assert failed.status == JobStatus.FAILURE
    assert Job.objects.of_type(REGROUP_JOB).active().get().params == {"full": True}


def test_retry_of_a_failed_full_regroup_reruns_it(client, manager, stale):
    failed = full_job(stale, JobStatus.FAILURE)
    client.force_login(manager)

    client.post(deployment_url("deployment-regroup-retry", stale))

    assert Job.objects.of_type(REGROUP_JOB).active().get() == failed


def test_a_deployment_whose_full_regroup_runs_stays_in_the_rollup(client, manager, stale):
    """A regroup clears the record of settings while it writes: the row stays meanwhile."""
    full_job(stale, JobStatus.STARTED)
    Deployment.objects.filter(pk=stale.pk).update(
        sessions_gap_seconds=None, sessions_rules_version=None
    )
    client.force_login(manager)

    text = client.get(stale.project.get_absolute_url()).text

    assert "1 of 1 deployment has sessions out of date." in text
    row = text.split(f'id="rollup-deployment-{stale.pk}"', 1)[1].split("</li>", 1)[0]
    assert "sessions out of date" in row and "0 captures" not in row
    assert 'role="progressbar"' in row and "Follow the job" in row
