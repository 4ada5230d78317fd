"""Following a job in a browser: the card keeps polling through answers that change nothing
(204), speaks only when the job's status or tenth done changes, then its outcome; without
JavaScript the job page reloads itself until the job ends.

The job is moved by the test itself, as a worker would move it, so each step is certain.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Response, expect

from jobs.models import Job, JobStatus
from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment
from tests.e2e.conftest import assert_no_axe_violations, sign_in_with_cookie, wait_for_htmx
from tests.factories import add_nights, make_job, regroup_progress


@pytest.fixture
def two_ungrouped_nights(deployment: Deployment) -> Deployment:
    return add_nights(deployment, ungrouped=2)  # 12 captures, none grouped


@pytest.fixture
def queued(two_ungrouped_nights: Deployment, manager) -> Job:
    """A regroup of `ungrouped` waiting for a worker (none runs in these tests)."""
    return make_job(two_ungrouped_nights, JobStatus.PENDING, progress={}, created_by=manager)


def stage(done: int, status: str = "STARTED") -> dict:
    return regroup_progress(status, done=done, total=12, eta_seconds=None)


def is_unchanged_poll(response: Response) -> bool:
    return "/regroup/progress/" in response.url and response.status == 204


def test_the_card_polls_through_unchanged_answers_and_speaks_only_at_changes(
    page: Page, live_server, two_ungrouped_nights, queued, member
) -> None:
    sign_in_with_cookie(page, live_server.url, member)
    page.goto(f"{live_server.url}{two_ungrouped_nights.get_absolute_url()}")
    card = page.locator(f"#deployment-{two_ungrouped_nights.pk}-card")
    announcer = page.locator(f"#deployment-{two_ungrouped_nights.pk}-card-announce")
    expect(card).to_contain_text("Waiting for a worker…")

    # Nothing changes while the job waits: polls are answered 204 and keep coming.
    for _ in range(2):
        page.wait_for_event("response", is_unchanged_poll)
    expect(card).to_contain_text("Waiting for a worker…")
    expect(page.locator(".request-error")).to_have_count(0)  # a 204 is no lost contact
    expect(announcer).to_be_empty()
    assert_no_axe_violations(page)

    Job.objects.filter(pk=queued.pk).update(status=JobStatus.STARTED, progress=stage(6))
    expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "6")
    expect(announcer).to_have_text("Running: Group captures into sessions, 50% done.")

    regroup_deployment(two_ungrouped_nights)
    Job.objects.filter(pk=queued.pk).update(
        status=JobStatus.SUCCESS, progress=stage(12, "SUCCESS"), result={"captures_grouped": 12}
    )
    expect(
        card.get_by_role("heading", name="All captures are grouped into sessions.")
    ).to_be_visible()
    expect(card.get_by_role("progressbar")).to_have_count(0)
    expect(announcer).to_have_text("Regroup sessions of Station A: Succeeded.")
    wait_for_htmx(page)
    assert_no_axe_violations(page)


def test_without_javascript_the_job_page_reloads_until_the_job_ends(
    no_js_page: Page,
    live_server,
    queued,
    member,
) -> None:
    page = no_js_page
    sign_in_with_cookie(page, live_server.url, member)
    page.goto(f"{live_server.url}{queued.get_absolute_url()}")
    chip = page.locator(".job-status .chip")
    expect(chip).to_have_text("Waiting for a worker")
    # Playwright's text and role queries skip <noscript>, so the note is found by CSS.
    note = page.locator(".page-header noscript p")
    expect(note).to_have_text("This page reloads every 3 seconds while the job is active.")
    expect(note).to_be_visible()

    Job.objects.filter(pk=queued.pk).update(status=JobStatus.SUCCESS, progress=stage(12, "SUCCESS"))

    expect(chip).to_have_text("Succeeded")  # within TIMEOUT_MS, with no click
    expect(note).to_have_count(0)
