"""Check every night in a browser, with JavaScript and without: the deployment page's
button leads to the new job's page, which says what was asked; both pages pass axe."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from jobs.models import Job
from monitoring.models import Deployment
from tests.e2e.conftest import assert_no_axe_violations, sign_in_with_cookie
from tests.factories import add_nights


def check_every_night(page: Page, live_server_url: str, deployment: Deployment) -> Job:
    page.goto(f"{live_server_url}{deployment.get_absolute_url()}")
    page.get_by_role("button", name="Check every night").click()
    job = Job.objects.get()
    expect(page).to_have_url(f"{live_server_url}{job.get_absolute_url()}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Regroup every night of {deployment}"
    )
    expect(page.locator(".job-facts")).to_contain_text("Every night: every session redrawn")
    return job


def test_a_manager_checks_every_night_from_the_deployment_page(
    page: Page, live_server, deployment: Deployment, manager
) -> None:
    add_nights(deployment, grouped=2)
    sign_in_with_cookie(page, live_server.url, manager)
    page.goto(f"{live_server.url}{deployment.get_absolute_url()}")
    assert_no_axe_violations(page)

    check_every_night(page, live_server.url, deployment)

    assert_no_axe_violations(page)


def test_without_javascript_too(no_js_page: Page, live_server, deployment: Deployment, manager):
    add_nights(deployment, grouped=2)
    sign_in_with_cookie(no_js_page, live_server.url, manager)

    job = check_every_night(no_js_page, live_server.url, deployment)

    assert job.params == {"full": True}
