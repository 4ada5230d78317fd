"""A project manager signs in with the form and reaches a private deployment's page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from monitoring.models import Deployment
from tests.e2e.conftest import TIMEOUT_MS
from tests.factories import PASSWORD


def test_manager_signs_in_and_opens_a_private_deployment(
    page: Page, live_server, deployment: Deployment, manager
) -> None:
    response = page.goto(f"{live_server.url}/accounts/login/")
    assert response is not None and response.ok, response and response.status
    page.locator("input[name='username']").fill(manager.username)
    page.locator("input[name='password']").fill(PASSWORD)
    page.locator("form [type='submit']").click()
    # Signed in: the form is gone (a failed sign-in shows it again).
    expect(page.locator("input[name='password']")).to_have_count(0, timeout=TIMEOUT_MS)

    response = page.goto(
        f"{live_server.url}/projects/{deployment.project_id}/deployments/{deployment.pk}/"
    )
    assert response is not None and response.ok, response and response.status

    expect(page.get_by_role("heading", name=deployment.name, level=1)).to_be_visible(
        timeout=TIMEOUT_MS
    )


def test_deployment_page_is_not_shown_without_signing_in(
    page: Page, live_server, deployment: Deployment
) -> None:
    page.goto(f"{live_server.url}/projects/{deployment.project_id}/deployments/{deployment.pk}/")

    expect(page.get_by_role("heading", name=deployment.name, level=1)).to_have_count(
        0, timeout=TIMEOUT_MS
    )
