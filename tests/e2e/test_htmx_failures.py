"""When an htmx request fails or the session has ended, the page says so and stays usable."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from playwright.sync_api import Page, Route, expect

from monitoring.models import Deployment
from tests.e2e.conftest import (
    JOB_TIMEOUT_MS,
    assert_no_axe_violations,
    sign_in_with_cookie,
    wait_for_htmx,
)
from tests.factories import PASSWORD
from tests.worker_process import CeleryWorker


def open_card(page: Page, live_server_url: str, deployment: Deployment):
    page.goto(f"{live_server_url}{deployment.get_absolute_url()}")
    card = page.locator(f"#deployment-{deployment.pk}-card")
    expect(card).to_contain_text("18 captures aren't grouped into a session.")
    return card


def regroup_url(deployment: Deployment) -> str:
    return f"**/deployments/{deployment.pk}/regroup/"


def test_a_server_error_is_reported_next_to_the_button_which_works_again(
    page: Page, live_server, live_worker: CeleryWorker, manager, three_ungrouped_nights: Deployment
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    card = open_card(page, live_server.url, three_ungrouped_nights)

    def answer_500(route: Route) -> None:
        route.fulfill(status=500, body="<h1>Server Error</h1>", content_type="text/html")

    page.route(regroup_url(three_ungrouped_nights), answer_500)
    button = card.get_by_role("button", name="Regroup")
    button.click()

    alert = card.get_by_role("alert")
    expect(alert).to_have_text("Couldn't regroup: the server answered 500. Try again.")
    expect(button).to_be_enabled()
    expect(card).to_contain_text("18 captures aren't grouped")  # nothing swapped in
    assert_no_axe_violations(page)
    assert not three_ungrouped_nights.jobs.exists()

    page.unroute(regroup_url(three_ungrouped_nights))
    button.click()
    expect(card).to_contain_text("All captures are grouped into sessions.", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("alert")).to_have_count(0)


def test_a_lost_connection_is_reported_and_focus_follows_a_successful_swap(
    page: Page, live_server, live_worker: CeleryWorker, manager, three_ungrouped_nights: Deployment
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    card = open_card(page, live_server.url, three_ungrouped_nights)

    page.route(regroup_url(three_ungrouped_nights), lambda route: route.abort("connectionrefused"))
    button = card.get_by_role("button", name="Regroup")
    button.click()
    expect(card.get_by_role("alert")).to_contain_text(
        "Couldn't regroup: the server couldn't be reached."
    )
    expect(button).to_be_enabled()

    page.unroute(regroup_url(three_ungrouped_nights))
    button.click()
    wait_for_htmx(page)
    # The new card's heading has the focus, not <body>.
    focused = page.evaluate(
        f"document.activeElement.closest('#deployment-{three_ungrouped_nights.pk}-card') !== null"
    )
    assert focused
    expect(card).to_contain_text("All captures are grouped into sessions.", timeout=JOB_TIMEOUT_MS)


def test_a_page_left_behind_by_signing_in_elsewhere_says_to_reload_it(
    page: Page, live_server, manager, three_ungrouped_nights: Deployment
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    card = open_card(page, live_server.url, three_ungrouped_nights)
    # Signing in in another tab gives the browser a new CSRF cookie; this page's token is old.
    page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": live_server.url}])

    card.get_by_role("button", name="Regroup").click()

    expect(card.get_by_role("alert")).to_have_text(
        "Couldn't regroup: This page is out of date (perhaps you signed in or out in another "
        "tab): reload it and try again. (The server answered 403.)"
    )
    assert not three_ungrouped_nights.jobs.exists()


def test_after_the_session_ends_a_click_leads_to_sign_in_and_back_to_the_page(
    page: Page, live_server, manager, three_ungrouped_nights: Deployment
) -> None:
    sign_in_with_cookie(page, live_server.url, manager)
    card = open_card(page, live_server.url, three_ungrouped_nights)
    Session.objects.all().delete()  # the session expired on the server

    card.get_by_role("button", name="Regroup").click()

    # The whole sign-in page, not a sign-in form inside the card.
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.locator(".site-header")).to_have_count(1)
    assert not three_ungrouped_nights.jobs.exists()

    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name=three_ungrouped_nights.name, level=1)).to_be_visible()
    assert page.url == f"{live_server.url}{three_ungrouped_nights.get_absolute_url()}"
    expect(card.get_by_role("button", name="Regroup")).to_be_visible()
