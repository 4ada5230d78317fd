"""Ungrouped captures, end to end: a browser, the live server and a real Celery worker.

Each test builds a deployment whose last nights were synced without being grouped, then
drives the deployment's suggested-action card (and the occurrence banner, the project
rollup and the jobs pages) the way a person would. Jobs run on a real worker process
(`live_worker`), through the configured broker, on the test database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from playwright.sync_api import Locator, Page, expect

from jobs.models import Job, JobStatus
from monitoring.locks import deployment_lock
from monitoring.models import Deployment, Detection, Occurrence, SourceImage, Taxon
from tests.e2e.conftest import JOB_TIMEOUT_MS, sign_in_with_cookie, wait_for_htmx
from tests.factories import PASSWORD, add_captures, add_nights, nights
from tests.worker_process import CeleryWorker

# One capture a night and, in `slow_regroup`, one night per chunk: 1,200 small chunks, each
# its own transaction and progress save, so the regroup runs for a few seconds (about 4 s
# on SQLite, 7 s on PostgreSQL) while the card polls every second.
GROUPED_NIGHTS = 2
UNGROUPED_NIGHTS = 1200
PER_NIGHT = 1
UNGROUPED = UNGROUPED_NIGHTS * PER_NIGHT


@pytest.fixture
def slow_regroup(monkeypatch: pytest.MonkeyPatch) -> None:
    """One night per chunk and a progress save per chunk, so the bar has time to move.

    Read by the worker's settings when it starts: list this fixture before `live_worker`.
    """
    monkeypatch.setenv("REGROUP_CHUNK_CAPTURES", str(PER_NIGHT))
    monkeypatch.setenv("JOBS_PROGRESS_SAVE_SECONDS", "0")


@pytest.fixture
def many_ungrouped_nights(deployment: Deployment) -> Deployment:
    """Two grouped nights, then 1,200 nights synced without grouping."""
    add_nights(deployment, grouped=GROUPED_NIGHTS, ungrouped=UNGROUPED_NIGHTS, per_night=PER_NIGHT)
    assert deployment.source_images_without_event_count == UNGROUPED
    return deployment


# --- Helpers ----------------------------------------------------------------------------


def open_deployment(page: Page, live_server_url: str, deployment: Deployment) -> None:
    response = page.goto(f"{live_server_url}{deployment.get_absolute_url()}")
    assert response is not None and response.ok, response and response.status
    expect(page.get_by_role("heading", name=deployment.name, level=1)).to_be_visible()


def card_of(page: Page, deployment: Deployment) -> Locator:
    return page.locator(f"#deployment-{deployment.pk}-card")


def stat(page: Page, name: str) -> Locator:
    """The value of one of the deployment page's counts, by its exact name."""
    return page.locator(
        ".stat", has=page.locator("dt", has_text=re.compile(f"^{re.escape(name)}$"))
    ).locator("dd")


def needs_action_title(count: str) -> str:
    return f"{count} captures aren't grouped into a session."


def final_status(job: Job) -> str | None:
    status = Job.objects.values_list("status", flat=True).get(pk=job.pk)
    done = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED)
    return status if status in done else None


def wait_for_bar_to_move(page: Page, deployment: Deployment) -> None:
    """Wait until the card's bar shows a value strictly between 0 and its maximum.

    Polls the live DOM: the card swaps its progress region in every second, and the
    regroup (`slow_regroup`) reports after each of its 1,200 chunks, so polls land mid-run.
    """
    page.wait_for_function(
        """selector => {
            const bar = document.querySelector(selector);
            if (!bar) return false;
            const now = Number(bar.getAttribute('aria-valuenow'));
            const max = Number(bar.getAttribute('aria-valuemax'));
            return now > 0 && now < max;
        }""",
        arg=f"#deployment-{deployment.pk}-card [role=progressbar]",
        polling=50,
        timeout=JOB_TIMEOUT_MS,
    )


@contextmanager
def regroup_lock_held_elsewhere(deployment: Deployment) -> Iterator[None]:
    """Hold the deployment's regroup lock from another connection, as a regroup started
    from the command line would, until the block ends."""
    acquired, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with deployment_lock(deployment.pk):
                acquired.set()
                release.wait(timeout=120)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            acquired.set()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=hold, name="regroup-lock-holder", daemon=True)
    thread.start()
    assert acquired.wait(timeout=10), "the lock holder never started"
    assert not errors, errors
    try:
        yield
    finally:
        release.set()
        thread.join(timeout=10)


# --- Tests ------------------------------------------------------------------------------


def test_a_manager_regroups_from_the_card_and_follows_the_job_to_its_log(
    slow_regroup, live_worker: CeleryWorker, page: Page, live_server, many_ungrouped_nights, manager
) -> None:
    project_id = many_ungrouped_nights.project_id
    # Signed in with the real form once; the other tests use the session cookie.
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("input[name='username']").fill(manager.username)
    page.locator("input[name='password']").fill(PASSWORD)
    page.locator("form [type='submit']").click()
    expect(page.locator("input[name='password']")).to_have_count(0)

    # The project page rolls the deployment up with its count.
    page.goto(f"{live_server.url}/projects/{project_id}/")
    expect(page.locator("#rollup-heading")).to_have_text(
        "1 of 1 deployment has 1,200 captures that aren't grouped into sessions."
    )
    expect(page.locator(f"#rollup-deployment-{many_ungrouped_nights.pk}")).to_contain_text(
        "1,200 captures"
    )

    open_deployment(page, live_server.url, many_ungrouped_nights)
    card = card_of(page, many_ungrouped_nights)
    expect(card.get_by_role("heading", level=2)).to_have_text(
        f"{needs_action_title('1,200')} Click Regroup to fix."
    )
    expect(stat(page, "Captures without a session")).to_have_text("1,200")

    card.get_by_role("button", name="Regroup", exact=True).click()

    # Running: a progress bar out of the 1,200 captures, whose value moves.
    expect(card.get_by_role("heading", name="Grouping captures into sessions…")).to_be_visible()
    bar = card.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuemax", "1200")
    wait_for_bar_to_move(page, many_ungrouped_nights)
    expect(card.get_by_role("link", name="Follow the job and its log")).to_be_visible()

    # Done: the card swaps itself to its last state, and the counts are refreshed with it.
    expect(
        card.get_by_role("heading", name="All captures are grouped into sessions.")
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("status")).to_contain_text("1,200 captures grouped")
    expect(card.get_by_role("progressbar")).to_have_count(0)
    expect(stat(page, "Captures without a session")).to_have_text("0")
    expect(stat(page, "Sessions")).to_have_text(f"{GROUPED_NIGHTS + UNGROUPED_NIGHTS:,}")
    job = Job.objects.get()
    assert job.status == JobStatus.SUCCESS

    page.reload()
    expect(page.get_by_role("heading", name=many_ungrouped_nights.name, level=1)).to_be_visible()
    expect(card).to_have_count(0)
    expect(stat(page, "Captures without a session")).to_have_text("0")

    page.goto(f"{live_server.url}/projects/{project_id}/")
    expect(page.locator("#rollup-heading")).to_have_count(0)

    # The jobs list has it, succeeded; its page has the stage's numbers and the log.
    page.goto(f"{live_server.url}/projects/{project_id}/jobs/")
    row = page.locator(f"#job-{job.pk}-row")
    expect(row.locator(".chip")).to_have_text("Succeeded")
    row.get_by_role("link", name="Regroup sessions of Station A").click()

    expect(page).to_have_url(f"{live_server.url}/projects/{project_id}/jobs/{job.pk}/")
    expect(
        page.get_by_role("heading", name="Regroup sessions of Station A", level=1)
    ).to_be_visible()
    expect(page.locator(".job-status .chip")).to_have_text("Succeeded")
    stats = page.locator(".stage-stats")
    expect(stats.locator("div", has=page.locator("dt", has_text="Captures grouped"))).to_have_text(
        re.compile(r"Captures grouped\s*1,200")
    )
    expect(stats.locator("div", has=page.locator("dt", has_text="Sessions created"))).to_have_text(
        re.compile(r"Sessions created\s*1,200")
    )
    log = page.locator(".job-log .log-message")
    expect(log.filter(has_text=re.compile(r"^Queued by manager\.$"))).to_have_count(1)
    expect(
        log.filter(has_text=re.compile(r"^Grouped 1,200 captures: 1,200 sessions created"))
    ).to_have_count(1)
    expect(log.filter(has_text=re.compile(r"^Finished\.$"))).to_have_count(1)


def test_the_occurrence_banner_names_the_deployment_until_it_is_regrouped(
    live_worker: CeleryWorker, page: Page, live_server, many_ungrouped_nights, project, manager
) -> None:
    moth = Taxon.objects.create(name="Noctua pronuba")
    captures = list(
        SourceImage.objects.filter(deployment=many_ungrouped_nights).order_by("timestamp")
    )
    # One occurrence on a grouped night, two on ungrouped nights.
    for capture in (captures[0], captures[-4], captures[-1]):
        occurrence = Occurrence.objects.create(
            project=project,
            deployment=many_ungrouped_nights,
            event=capture.event,
            determination=moth,
        )
        Detection.objects.create(source_image=capture, occurrence=occurrence)
    many_ungrouped_nights.update_calculated_fields()
    sign_in_with_cookie(page, live_server.url, manager)
    occurrences_url = f"{live_server.url}/projects/{project.pk}/occurrences/"

    page.goto(occurrences_url)
    banner = page.locator("#occurrence-banner")
    expect(banner).to_contain_text(
        "2 occurrences in this list have no session because captures in Station A (1,200) "
        "aren't grouped into sessions."
    )
    expect(page.locator("tbody tr")).to_have_count(3)  # the list still shows
    expect(page.locator("tbody tr", has_text="No session")).to_have_count(2)

    banner.get_by_role("link", name="Station A").click()
    expect(page).to_have_url(f"{live_server.url}{many_ungrouped_nights.get_absolute_url()}")
    card = card_of(page, many_ungrouped_nights)
    card.get_by_role("button", name="Regroup", exact=True).click()
    expect(
        card.get_by_role("heading", name="All captures are grouped into sessions.")
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)

    page.goto(occurrences_url)
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("#occurrence-banner")).to_have_count(0)
    expect(page.locator("tbody tr", has_text="No session")).to_have_count(0)


def test_dismiss_leaves_a_line_whose_show_brings_the_card_back_and_more_captures_do_too(
    page: Page, live_server, many_ungrouped_nights, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    open_deployment(page, live_server.url, many_ungrouped_nights)
    card = card_of(page, many_ungrouped_nights)
    expect(card.get_by_role("heading", level=2)).to_contain_text(needs_action_title("1,200"))

    card.get_by_role("button", name="Dismiss").click()
    expect(card).to_have_text(re.compile(r"^\s*1 hidden suggestion\s*·\s*Show\s*$"))
    expect(card.get_by_role("heading")).to_have_count(0)
    wait_for_htmx(page)

    # Show brings it back in place, without a reload.
    card.get_by_role("button", name="Show").click()
    expect(card.get_by_role("heading", level=2)).to_contain_text(needs_action_title("1,200"))
    wait_for_htmx(page)

    card.get_by_role("button", name="Dismiss").click()
    expect(card.get_by_role("button", name="Show")).to_be_visible()
    wait_for_htmx(page)
    page.reload()
    expect(page.get_by_role("heading", name=many_ungrouped_nights.name, level=1)).to_be_visible()
    expect(card.get_by_role("heading")).to_have_count(0)
    expect(card).to_contain_text("1 hidden suggestion")
    expect(stat(page, "Captures without a session")).to_have_text("1,200")

    # A later sync brings 400 more ungrouped captures: the card is back, with the new number.
    add_captures(many_ungrouped_nights, nights(2000, 100, per_night=4))
    many_ungrouped_nights.update_calculated_fields()
    page.reload()
    expect(card.get_by_role("heading", level=2)).to_contain_text(needs_action_title("1,600"))
    expect(card.get_by_role("button", name="Regroup", exact=True)).to_be_visible()


def test_a_failed_regroup_offers_retry_and_the_retry_succeeds(
    live_worker: CeleryWorker, page: Page, live_server, many_ungrouped_nights, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    open_deployment(page, live_server.url, many_ungrouped_nights)
    card = card_of(page, many_ungrouped_nights)

    # A regroup from elsewhere (the command line, say) holds the deployment: the job that
    # Regroup starts fails on the worker, for real.
    with regroup_lock_held_elsewhere(many_ungrouped_nights):
        card.get_by_role("button", name="Regroup", exact=True).click()
        alert = card.get_by_role("alert")
        expect(alert).to_contain_text(
            "The last run failed: Another regroup of this deployment is running",
            timeout=JOB_TIMEOUT_MS,
        )
    job = Job.objects.get()
    assert job.status == JobStatus.FAILURE
    expect(card.get_by_role("heading", level=2)).to_have_text(needs_action_title("1,200"))
    expect(alert.get_by_role("link", name="See the job's log")).to_have_attribute(
        "href", job.get_absolute_url()
    )
    expect(card.get_by_role("button", name="Regroup", exact=True)).to_have_count(0)

    card.get_by_role("button", name="Retry").click()
    expect(card.get_by_role("heading", name="Grouping captures into sessions…")).to_be_visible()
    expect(
        card.get_by_role("heading", name="All captures are grouped into sessions.")
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCESS, 2)
    assert Job.objects.count() == 1  # a retry is a new run of the same job

    page.reload()
    expect(page.get_by_role("heading", name=many_ungrouped_nights.name, level=1)).to_be_visible()
    expect(card).to_have_count(0)


def test_a_member_sees_the_message_but_no_regroup_button(
    page: Page, live_server, many_ungrouped_nights, manager, member
) -> None:
    sign_in_with_cookie(page, live_server.url, member)
    open_deployment(page, live_server.url, many_ungrouped_nights)
    card = card_of(page, many_ungrouped_nights)

    expect(card.get_by_role("heading", level=2)).to_have_text(needs_action_title("1,200"))
    expect(card).to_contain_text("A project manager can regroup them: manager.")
    expect(card.get_by_role("button", name="Regroup")).to_have_count(0)
    expect(card.get_by_role("button", name="Retry")).to_have_count(0)
    expect(card).not_to_contain_text("Click Regroup")

    page.goto(f"{live_server.url}/projects/{many_ungrouped_nights.project_id}/")
    rollup = page.locator(f"#rollup-deployment-{many_ungrouped_nights.pk}")
    expect(rollup).to_contain_text("1,200 captures")
    expect(rollup.get_by_role("button", name="Regroup")).to_have_count(0)


def test_regroup_works_without_javascript(
    live_worker: CeleryWorker, no_js_page: Page, live_server, many_ungrouped_nights, manager
) -> None:
    page = no_js_page
    sign_in_with_cookie(page, live_server.url, manager)
    open_deployment(page, live_server.url, many_ungrouped_nights)

    # A plain form post, answered with a redirect to the job it started.
    card_of(page, many_ungrouped_nights).get_by_role("button", name="Regroup", exact=True).click()
    expect(page).to_have_url(
        re.compile(rf"/projects/{many_ungrouped_nights.project_id}/jobs/\d+/$")
    )
    job = Job.objects.get()
    assert page.url == f"{live_server.url}{job.get_absolute_url()}"
    expect(
        page.get_by_role("status").filter(has_text="Regrouping Station A started.")
    ).to_be_visible()

    # Nothing polls without JavaScript: wait for the worker, then reload by hand.
    status = live_worker.wait_for(lambda: final_status(job), timeout=20, what="the regroup")
    assert status == JobStatus.SUCCESS
    page.reload()
    expect(page.locator(".job-status .chip")).to_have_text("Succeeded")

    open_deployment(page, live_server.url, many_ungrouped_nights)
    expect(card_of(page, many_ungrouped_nights)).to_have_count(0)
    expect(stat(page, "Captures without a session")).to_have_text("0")
