"""The edges of the ungrouped-captures pages in a browser: the project rollup agreeing with
itself when a regroup ends, the night strip's small numbers, and accessibility (axe-core)
on the deployment page, the project page and the jobs list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jobs.models import Job, JobStatus
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment, Project
from tests.e2e.conftest import (
    JOB_TIMEOUT_MS,
    assert_no_axe_violations,
    sign_in_with_cookie,
    wait_for_htmx,
)
from tests.factories import add_captures, add_nights, make_job, nights
from tests.worker_process import CeleryWorker

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def one_ungrouped_night(deployment: Deployment) -> Deployment:
    """Twenty busy grouped nights (48 captures each), then a night with 1 ungrouped capture."""
    add_captures(deployment, nights(0, 20, per_night=48))
    regroup_deployment(deployment)
    add_captures(deployment, nights(20, 1, per_night=1))
    deployment.update_calculated_fields()
    assert deployment.source_images_without_event_count == 1
    return deployment


def rollup_heading(page: Page):
    return page.locator("#rollup-heading")


def test_the_rollup_heading_and_table_follow_a_regroup_without_a_reload(
    live_worker: CeleryWorker, page: Page, live_server, project: Project, deployment, manager
) -> None:
    add_nights(deployment, ungrouped=3)  # Station A: 18 ungrouped
    add_nights(Deployment.objects.create(project=project, name="Station B"), ungrouped=2)  # 12
    grouped = Deployment.objects.create(project=project, name="Station C")
    add_captures(grouped, nights(0, 1))
    regroup_deployment(grouped)
    sign_in_with_cookie(page, live_server.url, manager)

    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    expect(rollup_heading(page)).to_have_text(
        "2 of 3 deployments have 30 captures that aren't grouped into sessions."
    )
    table_row = page.locator(f"#deployment-{deployment.pk}-row td")
    expect(table_row.nth(7)).to_have_text("18")  # without session
    assert_no_axe_violations(page)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    row = page.locator(f"#rollup-deployment-{deployment.pk}")
    row.get_by_role("button", name="Regroup").click()

    expect(row).to_contain_text("All grouped now.", timeout=JOB_TIMEOUT_MS)
    expect(rollup_heading(page)).to_have_text(
        "1 of 3 deployments has 12 captures that aren't grouped into sessions."
    )
    expect(table_row.nth(7)).to_have_text("0")
    expect(table_row.nth(2)).to_have_text("3")  # sessions, one a night
    assert page.evaluate("window.sameDocument") is True
    wait_for_htmx(page)
    assert_no_axe_violations(page)


def test_a_night_with_one_ungrouped_capture_has_a_bar_you_can_see(
    page: Page, live_server, one_ungrouped_night, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    page.goto(f"{live_server.url}{one_ungrouped_night.get_absolute_url()}")

    bars = page.locator(f"#deployment-{one_ungrouped_night.pk}-card svg rect.night-ungrouped")
    expect(bars).to_have_count(1)
    box = bars.bounding_box()
    assert box is not None and box["height"] >= 3, box
    axis = page.locator(".night-axis")
    expect(axis).to_contain_text("1 Jun 2024")
    expect(axis).to_contain_text("21 Jun 2024")


def test_a_keyboard_reaches_the_numbers_of_each_night(
    page: Page, live_server, one_ungrouped_night, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    page.goto(f"{live_server.url}{one_ungrouped_night.get_absolute_url()}")
    summary = page.get_by_text("Nights with ungrouped captures", exact=True)

    for _ in range(40):  # Tab through the page until the strip's table is reached
        page.keyboard.press("Tab")
        if summary.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the nights table")
    page.keyboard.press("Enter")

    table = page.get_by_role("table")
    expect(table.first.get_by_role("columnheader")).to_have_text(
        ["Night", "Captures", "Not grouped"]
    )
    expect(table.first.get_by_role("row").nth(1)).to_have_text(re.compile(r"21 Jun 2024\s*1\s*1"))
    assert_no_axe_violations(page)


def test_the_deployment_page_passes_axe_in_each_card_state(
    page: Page, live_server, one_ungrouped_night, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    url = f"{live_server.url}{one_ungrouped_night.get_absolute_url()}"
    card = page.locator(f"#deployment-{one_ungrouped_night.pk}-card")

    page.goto(url)
    page.locator("details.night-table").evaluate("details => { details.open = true }")
    assert_no_axe_violations(page)

    card.get_by_role("button", name="Dismiss").click()
    expect(card.get_by_role("button", name="Show")).to_be_visible()
    wait_for_htmx(page)
    assert_no_axe_violations(page)
    card.get_by_role("button", name="Show").click()
    expect(card.get_by_role("heading", level=2)).to_be_visible()
    wait_for_htmx(page)

    job = make_job(one_ungrouped_night, JobStatus.REVOKED, progress={})
    page.goto(url)
    expect(card.get_by_role("status")).to_contain_text("The regroup was cancelled")
    assert_no_axe_violations(page)

    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILURE)
    page.goto(url)
    expect(card.get_by_role("alert")).to_contain_text("The last run failed")
    assert_no_axe_violations(page)

    # On a phone too: stacked tiles, tabs, and tables that scroll.
    page.set_viewport_size(PHONE)
    page.goto(url)
    assert_no_axe_violations(page)


def test_the_project_page_and_jobs_list_pass_axe_on_a_phone_too(
    page: Page, live_server, one_ungrouped_night, manager
) -> None:
    project = one_ungrouped_night.project
    make_job(one_ungrouped_night, JobStatus.SUCCESS)
    sign_in_with_cookie(page, live_server.url, manager)
    for size in ({"width": 1280, "height": 900}, PHONE):
        page.set_viewport_size(size)
        page.goto(f"{live_server.url}{project.get_absolute_url()}")
        expect(rollup_heading(page)).to_be_visible()
        assert_no_axe_violations(page)
        page.goto(f"{live_server.url}/projects/{project.pk}/jobs/")
        expect(
            page.get_by_role("link", name=f"Regroup sessions of {one_ungrouped_night}")
        ).to_be_visible()
        assert_no_axe_violations(page)
