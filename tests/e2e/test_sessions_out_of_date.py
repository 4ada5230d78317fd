"""A manager changes the session gap in Settings, sees the deployment's sessions are out of
date, regroups it from the card and watches the full regroup finish; the Settings page and
the deployment page with the new card pass axe at desktop and phone widths."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from jobs.models import REGROUP_JOB, Job, JobStatus
from monitoring.models import Project
from tests.e2e.conftest import (
    JOB_TIMEOUT_MS,
    assert_no_axe_violations,
    sign_in_with_cookie,
    wait_for_htmx,
)
from tests.factories import add_nights
from tests.worker_process import CeleryWorker

SIZES = ({"width": 1280, "height": 900}, {"width": 390, "height": 844})


def test_change_the_gap_then_regroup_the_out_of_date_deployment(
    live_worker: CeleryWorker, page: Page, live_server, project: Project, deployment, manager
) -> None:
    add_nights(deployment, grouped=3)
    sign_in_with_cookie(page, live_server.url, manager)

    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    for size in SIZES:
        page.set_viewport_size(size)
        assert_no_axe_violations(page)
    page.set_viewport_size(SIZES[0])

    # Out of range: said, and nothing saved.
    page.get_by_label("Hours").fill("0")
    page.get_by_label("Minutes").fill("0")
    page.get_by_role("button", name="Save").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("The gap must be at least 1 minute.")
    expect(error).to_be_focused()
    project.refresh_from_db()
    assert project.session_time_gap_seconds == 7200
    assert_no_axe_violations(page)

    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.get_by_label("Hours").fill("1")
    page.get_by_role("button", name="Save").click()
    saved = page.locator("#settings-region [role=status]")
    expect(saved).to_have_text("Saved: the session gap is now 1 hour.")
    expect(saved).to_be_focused()
    assert page.evaluate("window.sameDocument === true")
    region = page.locator("#settings-region")
    expect(region).to_contain_text("Last changed by manager")
    expect(region).to_contain_text("1 deployment has sessions drawn under another gap:")
    expect(region.get_by_role("link", name=deployment.name)).to_be_visible()
    assert_no_axe_violations(page)

    region.get_by_role("link", name=deployment.name).click()
    card = page.locator(f"#deployment-{deployment.pk}-card")
    expect(card.get_by_role("heading", level=2)).to_have_text(
        "Sessions of this deployment were grouped with a 2-hour gap; the project now uses "
        "1 hour. Click Regroup to apply."
    )
    for size in SIZES:
        page.set_viewport_size(size)
        assert_no_axe_violations(page)
    page.set_viewport_size(SIZES[0])

    card.get_by_role("button", name="Regroup").click()
    expect(
        card.get_by_role("heading", name="Redrawing every session of this deployment…")
    ).to_be_visible()
    job = Job.objects.of_type(REGROUP_JOB).get()
    assert job.params == {"full": True}

    expect(
        card.get_by_role("heading", name="Every session follows the project's rules.")
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    wait_for_htmx(page)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    deployment.refresh_from_db()
    assert deployment.sessions_gap_seconds == 3600
    assert_no_axe_violations(page)

    page.reload()
    expect(page.locator(f"#deployment-{deployment.pk}-card")).to_have_count(0)
    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    expect(page.locator("#rollup-heading")).to_have_count(0)


def test_settings_save_without_javascript(no_js_page: Page, live_server, project, manager):
    sign_in_with_cookie(no_js_page, live_server.url, manager)
    no_js_page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    no_js_page.get_by_label("Hours").fill("0")
    no_js_page.get_by_label("Minutes").fill("30")
    no_js_page.get_by_role("button", name="Save").click()

    expect(no_js_page.locator(".messages")).to_have_text(
        "Saved: the session gap is now 30 minutes."
    )
    expect(no_js_page.get_by_label("Minutes")).to_have_value("30")
    assert Project.objects.get(pk=project.pk).session_time_gap_seconds == 1800
