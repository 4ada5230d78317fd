"""Add captures, end to end: a manager uploads a small CSV on the deployment page and watches
one job on a real worker check, import and group it, the card going from Check to Group
sessions to done with the new sessions listed; and the form post without JavaScript."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from jobs.add_captures import ADD_CAPTURES_JOB
from jobs.models import Job, JobStatus
from monitoring.locks import deployment_lock
from monitoring.models import Deployment
from tests.e2e.conftest import (
    JOB_TIMEOUT_MS,
    assert_no_axe_violations,
    sign_in_with_cookie,
    wait_for_htmx,
)
from tests.worker_process import CeleryWorker

# One capture a night, each night its own session.
NIGHTS = 120
FIRST_NIGHT = datetime(2024, 6, 1, 21, tzinfo=UTC)


def night_file(nights: int = NIGHTS) -> bytes:
    rows = (
        f"night{n:03d}/0001.jpg,{(FIRST_NIGHT + timedelta(days=n)).isoformat()}\n"
        for n in range(nights)
    )
    return ("path,timestamp\n" + "".join(rows)).encode()


@pytest.fixture
def paused_after_check(start_worker) -> Iterator[CeleryWorker]:
    """A worker whose job waits once the check has read the file (its first report), until
    released."""
    with start_worker("worker", pause_after_chunk=1) as worker:
        yield worker


def card_of(page: Page, deployment: Deployment) -> Locator:
    return page.locator(f"#deployment-{deployment.pk}-add-captures")


def current_step(card: Locator) -> Locator:
    return card.locator('.job-step[aria-current="step"]')


def test_a_manager_adds_a_night_file_and_watches_it_checked_imported_and_grouped(
    page: Page, live_server, paused_after_check: CeleryWorker, deployment: Deployment, manager
):
    sign_in_with_cookie(page, live_server.url, manager)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{deployment.get_absolute_url()}")
    assert_no_axe_violations(page)

    page.get_by_label("A CSV file").set_input_files(
        files=[{"name": "nights.csv", "mimeType": "text/csv", "buffer": night_file()}]
    )
    page.get_by_role("button", name="Add captures").click()

    card = card_of(page, deployment)
    expect(card.get_by_role("heading", name="Adding captures…")).to_be_visible()
    paused_after_check.wait_until_paused()
    expect(current_step(card)).to_have_text("Check", timeout=JOB_TIMEOUT_MS)
    assert_no_axe_violations(page)

    # Holding the deployment's regroup lock keeps the job at Group sessions, waiting for
    # the "other regroup" to finish, however fast the machine.
    with deployment_lock(deployment.pk):
        paused_after_check.release()
        expect(current_step(card)).to_have_text("Group sessions", timeout=JOB_TIMEOUT_MS)

    expect(card.get_by_role("heading", name="Captures added.")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    wait_for_htmx(page)
    expect(card).to_contain_text(
        f"Added {NIGHTS} captures and grouped them into {NIGHTS} sessions."
    )
    sessions = card.locator(".new-sessions li")
    expect(sessions).to_have_count(20)
    expect(sessions.first).to_contain_text("Station A · 2024-06-01 21:00")
    expect(card).to_contain_text(f"and {NIGHTS - 20} more.")
    expect(page.locator(f"#deployment-{deployment.pk}-card")).to_have_count(0)
    stat = page.locator(".stat", has=page.locator("dt", has_text="Captures without a session"))
    expect(stat.locator("dd")).to_have_text("0")
    assert_no_axe_violations(page)
    page.set_viewport_size({"width": 390, "height": 844})
    assert_no_axe_violations(page)

    job = Job.objects.of_type(ADD_CAPTURES_JOB).get()
    assert job.status == JobStatus.SUCCESS
    # A fresh page: neither the import's card nor an ungrouped-captures card.
    page.reload()
    expect(card).to_have_count(0)
    expect(page.locator(f"#deployment-{deployment.pk}-card")).to_have_count(0)


def test_a_bad_file_lists_its_rows_and_without_javascript_too(
    no_js_page: Page, live_server, live_worker: CeleryWorker, deployment: Deployment, manager
):
    page = no_js_page
    sign_in_with_cookie(page, live_server.url, manager)
    page.goto(f"{live_server.url}{deployment.get_absolute_url()}")

    page.get_by_label("Or paste rows").fill("path,timestamp\na.jpg,yesterday\n")
    page.get_by_role("button", name="Add captures").click()

    job = Job.objects.of_type(ADD_CAPTURES_JOB).get()
    expect(page).to_have_url(f"{live_server.url}{job.get_absolute_url()}")
    live_worker.wait_for(
        lambda: Job.objects.get(pk=job.pk).status == JobStatus.FAILURE, what="the check to fail"
    )
    page.goto(f"{live_server.url}{deployment.get_absolute_url()}")
    card = card_of(page, deployment)
    expect(card).to_contain_text("line 2: 'yesterday' is not an ISO 8601 date and time")
    expect(card.get_by_role("button", name="Retry")).to_be_disabled()
