"""The project's Settings tab: who may open it, the gap's validation, saving with and without
htmx, who changed it, and the deployments a change leaves out of date."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import Deployment, Project
from tests.factories import HTMX, add_nights, make_user

pytestmark = pytest.mark.django_db


def settings_url(project: Project) -> str:
    return reverse("project-settings", args=[project.pk])


def post_gap(client: Client, project: Project, hours="1", minutes="0", **extra):
    return client.post(settings_url(project), {"hours": hours, "minutes": minutes}, **extra)


# Who may open it


def test_a_manager_sees_the_tab_and_the_gap_as_hours_and_minutes(client, manager, project):
    project.session_time_gap_seconds = 5400
    project.save()
    client.force_login(manager)

    overview = client.get(project.get_absolute_url()).text
    assert f'href="{settings_url(project)}">Settings</a>' in overview

    response = client.get(settings_url(project))
    assert response.status_code == 200
    assert 'name="hours" id="id_hours" value="1"' in response.text
    assert 'name="minutes" id="id_minutes" value="30"' in response.text
    assert "It is 1 hour 30 minutes now." in response.text
    assert "a gap this long or longer between two captures starts a new session" in response.text
    assert f'href="{settings_url(project)}" aria-current="page">Settings</a>' in response.text
    assert "Not changed here yet." in response.text


def test_a_member_gets_403_and_no_tab(client, member, project):
    client.force_login(member)
    assert ">Settings</a>" not in client.get(project.get_absolute_url()).text
    assert client.get(settings_url(project)).status_code == 403
    assert post_gap(client, project).status_code == 403
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 7200


def test_an_outsider_gets_404(client, outsider, project):
    client.force_login(outsider)
    assert client.get(settings_url(project)).status_code == 404
    assert post_gap(client, project).status_code == 404


def test_a_signed_out_post_is_sent_to_sign_in_and_saves_nothing(client, project):
    response = post_gap(client, project)
    assert response.status_code == 302 and reverse("login") in response.url
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 7200


def test_a_post_without_the_csrf_token_is_refused(manager, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert post_gap(client, project).status_code == 403
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 7200


# Validation


@pytest.mark.parametrize(
    ("hours", "minutes", "message"),
    [
        ("0", "0", "The gap must be at least 1 minute."),
        ("", "", "The gap must be at least 1 minute."),
        ("24", "1", "The gap can be at most 24 hours."),
        ("25", "0", "Hours must be a whole number from 0 to 24."),
        ("-1", "30", "Hours must be a whole number from 0 to 24."),
        ("1", "60", "Minutes must be a whole number from 0 to 59."),
        ("one", "0", "Hours must be a whole number from 0 to 24."),
        ("1.5", "0", "Hours must be a whole number from 0 to 24."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_gap_out_of_range_says_why_and_saves_nothing(
    client, manager, project, hours, minutes, message, htmx
):
    client.force_login(manager)
    response = post_gap(client, project, hours, minutes, **(HTMX if htmx else {}))

    assert response.status_code == 200
    assert message in response.text
    assert "Nothing was saved." in response.text
    assert 'aria-invalid="true"' in response.text
    assert ("<html" in response.text) is not htmx
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 7200
    assert project.session_gap_changed_at is None


@pytest.mark.parametrize(("hours", "minutes", "seconds"), [("0", "1", 60), ("24", "0", 86400)])
def test_the_edges_are_allowed(client, manager, project, hours, minutes, seconds):
    client.force_login(manager)
    post_gap(client, project, hours, minutes)
    project.refresh_from_db()
    assert project.session_time_gap_seconds == seconds


# Saving


def test_a_form_post_saves_records_who_and_when_and_redirects(client, manager, project):
    client.force_login(manager)
    response = post_gap(client, project, "1", "")

    assert response.status_code == 302 and response.url == settings_url(project)
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 3600
    assert project.session_gap_changed_by == manager
    assert project.session_gap_changed_at is not None
    page = client.get(response.url).text
    assert "Saved: the session gap is now 1 hour." in page
    assert "Last changed by manager on <time" in page


def test_the_same_gap_again_changes_nothing(client, manager, project):
    client.force_login(manager)
    response = post_gap(client, project, "2", "0", **HTMX)
    assert "Nothing changed: the session gap was already 2 hours." in response.text
    project.refresh_from_db()
    assert project.session_gap_changed_at is None


def test_an_htmx_post_answers_with_the_settings_region_message_first(client, manager, project):
    client.force_login(manager)
    response = post_gap(client, project, "0", "45", **HTMX)

    text = response.text.strip()
    assert text.startswith('<div id="settings-region"')
    assert "<html" not in text
    assert "HX-Request" in response["Vary"]
    message = '<p class="banner banner-success" role="status" data-focus-after-swap>'
    assert text.index(message) < text.index("<form")
    assert "Saved: the session gap is now 45 minutes." in text
    assert 'value="45"' in text
    assert "Last changed by manager" in text


def test_the_deployments_a_change_affects_are_listed_with_their_sessions(client, manager, project):
    drawn = Deployment.objects.create(project=project, name="Station A")
    add_nights(drawn, grouped=3)
    legacy = Deployment.objects.create(project=project, name="Legacy")
    add_nights(legacy, grouped=1)
    Deployment.objects.filter(pk=legacy.pk).update(
        sessions_gap_seconds=None, sessions_rules_version=None
    )
    Deployment.objects.filter(pk=drawn.pk).update(events_count=1234)
    client.force_login(manager)

    before = client.get(settings_url(project)).text
    assert "No deployment has sessions drawn under another gap." in before

    after = post_gap(client, project, "1", "0", **HTMX).text

    assert "1 deployment has sessions drawn under another gap:" in after
    assert f'<a href="{drawn.get_absolute_url()}">Station A</a>:' in after
    assert "1,234 sessions drawn with a gap of 2 hours" in after
    assert "Legacy</a>" not in after
    assert "1 deployment has not been regrouped since deployments record their gap" in after
    # The deployment's page now says so too.
    card = client.get(drawn.get_absolute_url()).text
    assert "were grouped with a 2-hour gap; the project now uses 1 hour." in card


def test_staff_may_open_it_without_a_membership(client, project):
    client.force_login(make_user("admin", is_staff=True))
    assert client.get(settings_url(project)).status_code == 200
