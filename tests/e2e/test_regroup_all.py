"""Regroup all, end to end: from the project page's rollup, on two real workers, until the
rollup has nothing left to regroup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect

from jobs.models import REGROUP_ALL_JOB, Job, JobStatus
from monitoring.models import Deployment
from tests.e2e.conftest import (
    JOB_TIMEOUT_MS,
    assert_no_axe_violations,
    sign_in_with_cookie,
    wait_for_htmx,
)
from tests.factories import add_nights
from tests.worker_process import CeleryWorker

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# One capture a night and one night per chunk, each chunk saving its progress: a few
# seconds of regrouping per deployment, for the rows to follow.
NIGHTS = 300


@pytest.fixture
def two_workers(monkeypatch, start_worker) -> Iterator[list[CeleryWorker]]:
    monkeypatch.setenv("REGROUP_CHUNK_CAPTURES", "1")
    monkeypatch.setenv("JOBS_PROGRESS_SAVE_SECONDS", "0")
    with ExitStack() as stack:
        first = stack.enter_context(start_worker("first"))
        second = stack.enter_context(start_worker("second", queue=first.queue))
        yield [first, second]


@pytest.fixture
def two_ungrouped(project) -> list[Deployment]:
    return [
        add_nights(
            Deployment.objects.create(project=project, name=name), ungrouped=NIGHTS, per_night=1
        )
        for name in ("Station A", "Station B")
    ]


def test_regroup_all_from_the_project_page_empties_the_rollup(
    two_workers, page: Page, live_server, project, two_ungrouped, manager
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    heading = page.locator("#rollup-heading")
    expect(heading).to_have_text(
        "2 of 2 deployments have 600 captures that aren't grouped into sessions."
    )
    assert_no_axe_violations(page)

    page.get_by_role("button", name="Regroup all").click()
    wait_for_htmx(page)

    # The rollup swapped in, focus on its heading; each row follows its deployment's regroup.
    expect(heading).to_be_focused()
    parent = Job.objects.get(job_type_key=REGROUP_ALL_JOB)
    expect(page.get_by_role("link", name="Regroup 2 deployments")).to_be_visible()
    expect(page.get_by_role("button", name="Regroup all")).to_have_count(0)
    for deployment in two_ungrouped:
        row = page.locator(f"#rollup-deployment-{deployment.pk}")
        expect(row.get_by_role("link", name="Follow the job")).to_be_visible()
    assert_no_axe_violations(page)
    page.set_viewport_size(PHONE)
    assert_no_axe_violations(page)

    # Done: every row says so, the heading and the counts follow, and the job says how it ended.
    for deployment in two_ungrouped:
        row = page.locator(f"#rollup-deployment-{deployment.pk}")
        expect(row).to_contain_text("All grouped now.", timeout=JOB_TIMEOUT_MS)
        expect(row).not_to_contain_text("0 captures")
    expect(heading).to_have_text(
        "All captures are grouped into sessions now.", timeout=JOB_TIMEOUT_MS
    )
    # The heading was brought up to date out of band; focus stayed on it, not on <body>.
    expect(heading).to_be_focused()
    expect(page.locator("#rollup-regroup-all")).to_contain_text(
        "Regroup 2 deployments: done.", timeout=JOB_TIMEOUT_MS
    )
    for deployment in two_ungrouped:
        expect(page.locator(f"#deployment-{deployment.pk}-row td").nth(7)).to_have_text("0")
    assert_no_axe_violations(page)
    page.set_viewport_size(DESKTOP)
    assert_no_axe_violations(page)
    parent.refresh_from_db()
    assert parent.status == JobStatus.SUCCESS

    # The job's page: the parent, a stage per deployment.
    page.get_by_role("link", name="Open the job").click()
    expect(page.get_by_role("heading", name="Regroup 2 deployments", level=1)).to_be_visible()
    for deployment in two_ungrouped:
        expect(page.get_by_role("heading", name=deployment.name, level=3)).to_be_visible()
    assert_no_axe_violations(page)
