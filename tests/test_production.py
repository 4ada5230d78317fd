"""What production answers when things go wrong: error pages, signing in again, quiet logs,
and Django's deployment checks with the documented environment."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.test import Client
from django.urls import reverse
from django.views.defaults import server_error

from monitoring.models import Deployment, Project
from tests.factories import PASSWORD
from tests.production import BASE_DIR, production_environment

pytestmark = pytest.mark.django_db

LAYOUT = 'class="site-header"'
BACK_TO_PROJECTS = f'href="{reverse("project-list")}">Go to the projects list</a>'


@pytest.fixture(autouse=True)
def production_errors(settings) -> None:
    # With DEBUG on, Django shows its debug pages instead; the tests run with it off, as
    # production does, but say so, since these tests are about exactly that.
    settings.DEBUG = False


def regroup_url(deployment: Deployment) -> str:
    return reverse("deployment-regroup", args=[deployment.project_id, deployment.pk])


def sign_in_url(next_path: str) -> str:
    """The sign-in page, set to come back to `next_path`."""
    return redirect_to_login(next_path).url


# --- Error pages ------------------------------------------------------------------------


def test_a_missing_page_is_a_404_in_the_site_layout(client: Client, manager) -> None:
    client.force_login(manager)
    response = client.get("/projects/999999/")

    assert response.status_code == 404
    assert LAYOUT in response.text
    assert "There's nothing here" in response.text
    assert BACK_TO_PROJECTS in response.text


def test_pages_answer_head_requests_as_uptime_checks_send_them(
    client: Client, member, deployment: Deployment
) -> None:
    client.force_login(member)
    for url in (
        reverse("project-list"),
        reverse("project-detail", args=[deployment.project_id]),
        deployment.get_absolute_url(),
        reverse("occurrence-list", args=[deployment.project_id]),
    ):
        response = client.head(url)

        assert response.status_code == 200, url
        assert response.content == b""
    assert client.post(reverse("project-list")).status_code == 405


def test_a_member_refused_an_action_is_told_a_project_manager_can_do_it(
    client: Client, member, deployment
) -> None:
    client.force_login(member)
    response = client.post(regroup_url(deployment))

    assert response.status_code == 403
    assert LAYOUT in response.text
    assert "You can't do that here" in response.text
    assert "Only the project&#x27;s managers can do this." in response.text
    assert BACK_TO_PROJECTS in response.text


def test_a_bad_host_is_a_400_in_the_site_layout(client: Client) -> None:
    response = client.get("/", HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert LAYOUT in response.text
    assert "That request couldn't be understood" in response.text


def test_a_form_without_its_csrf_token_is_refused_with_a_page_that_says_why(
    manager, deployment
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(regroup_url(deployment))

    assert response.status_code == 403
    assert LAYOUT in response.text
    assert "That form has expired" in response.text
    assert not deployment.jobs.exists()


def test_the_500_page_renders_without_a_request_context_or_a_database(
    rf, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        response = server_error(rf.get("/"))

    text = response.content.decode()
    assert response.status_code == 500
    assert LAYOUT in text
    assert "Something went wrong on our side" in text
    assert BACK_TO_PROJECTS in text
    assert "Sign in" not in text


def test_a_crash_answers_the_500_page_not_a_traceback(
    client: Client, manager, deployment, monkeypatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("views.deployments.sessions_page", crash)
    client.raise_request_exception = False
    client.force_login(manager)
    response = client.get(deployment.get_absolute_url())

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "the database fell over" not in response.text


# --- Signing in again -----------------------------------------------------------------


def test_an_htmx_action_from_a_signed_out_user_loads_the_sign_in_page_for_the_page_they_were_on(
    client: Client, deployment
) -> None:
    page = f"http://testserver{deployment.get_absolute_url()}?page=2"
    response = client.post(
        regroup_url(deployment), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == sign_in_url(f"{deployment.get_absolute_url()}?page=2")
    assert response.content == b""
    assert not deployment.jobs.exists()


def test_an_htmx_poll_from_a_signed_out_user_also_goes_to_sign_in(
    client: Client, deployment
) -> None:
    progress = reverse("deployment-regroup-progress", args=[deployment.project_id, deployment.pk])
    page = f"http://testserver{deployment.get_absolute_url()}"
    response = client.get(progress, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page)

    assert response["HX-Redirect"] == sign_in_url(deployment.get_absolute_url())


def test_a_page_on_another_site_is_never_where_sign_in_sends_you(
    client: Client, deployment
) -> None:
    response = client.post(
        regroup_url(deployment),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://attacker.example/phish",
    )

    assert response["HX-Redirect"] == sign_in_url(reverse("project-list"))


def test_a_form_post_from_a_signed_out_user_returns_to_its_page_after_signing_in(
    client: Client, manager, deployment
) -> None:
    page = deployment.get_absolute_url()
    response = client.post(regroup_url(deployment), HTTP_REFERER=f"http://testserver{page}")

    assert response.status_code == 302
    assert response["Location"] == sign_in_url(page)
    assert not deployment.jobs.exists()

    signed_in = client.post(
        reverse("login"), {"username": manager.username, "password": PASSWORD, "next": page}
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == page
    assert client.get(page).status_code == 200


def test_an_action_on_a_public_project_asks_a_signed_out_user_to_sign_in(
    client: Client, project: Project, deployment
) -> None:
    project.is_private = False
    project.save()
    page = deployment.get_absolute_url()
    response = client.post(regroup_url(deployment), HTTP_REFERER=f"http://testserver{page}")

    assert response.status_code == 302
    assert response["Location"] == sign_in_url(page)


# --- Logs ------------------------------------------------------------------------------


def test_a_refusal_logs_one_line_and_a_crash_its_traceback(
    client: Client, member: AbstractBaseUser, deployment, monkeypatch, caplog
) -> None:
    client.force_login(member)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.post(regroup_url(deployment))
        client.get("/projects/999999/")
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert [r.status_code for r in refusals] == [403, 404]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in refusals)

    caplog.clear()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("views.deployments.sessions_page", crash)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        client.get(deployment.get_absolute_url())
    (error,) = [r for r in caplog.records if r.name == "django.request"]
    assert error.status_code == 500
    assert error.exc_info is not None


# --- Deployment checks ------------------------------------------------------------------


def test_the_documented_production_environment_passes_the_deployment_checks(tmp_path) -> None:
    env = {**production_environment(), "VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path) -> None:
    env = {**production_environment(), "SECRET_KEY": "", "VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
