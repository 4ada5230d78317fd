"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live_server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from playwright.sync_api import Browser, Page

from monitoring.models import Deployment
from tests.factories import add_nights

# Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM
# calls from a thread with a running loop. Tests here create their data with the ORM
# while driving the browser, so allow it, in browser tests only.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
# Longest wait for anything a page should show: generous for a loaded CI machine, and
# never a fixed sleep.
TIMEOUT_MS = 10_000
# Longest wait for a job a worker runs to end: it starts a process and regroups.
JOB_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # `playwright install` cannot download browsers here; Debian's Chromium is the browser.
    if not os.path.exists(CHROMIUM):
        # Fail rather than skip: a suite that quietly drops its browser tests looks green.
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium.")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless=new",
            # Tests run as root, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            # The machine has no network but localhost: stop Chromium reaching out, which
            # otherwise fails, many times over, at every start.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def page(page: Page) -> Page:
    # Playwright's actions wait up to 30 s by default; a page that has not shown what we
    # need in TIMEOUT_MS is broken, and the test should say so sooner.
    page.set_default_timeout(TIMEOUT_MS)
    return page


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context with JavaScript turned off: htmx never runs."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture
def three_ungrouped_nights(deployment: Deployment) -> Deployment:
    """Two grouped nights, then three nights (18 captures) synced without grouping."""
    return add_nights(deployment, grouped=2, ungrouped=3)


def wait_for_htmx(page: Page, timeout: float = TIMEOUT_MS) -> None:
    """Wait until htmx has no request in flight and no swap or settle under way."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')",
        timeout=timeout,
    )


def assert_no_axe_violations(page: Page) -> None:
    """Run axe-core (bundled with axe-playwright-python, nothing fetched) on the page as it
    stands, and fail with axe's own report if it finds any violation."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def sign_in_with_cookie(page: Page, live_server_url: str, user: AbstractBaseUser) -> None:
    """Sign `user` in by session cookie, for tests where the sign-in form is not under test."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server_url,
            }
        ]
    )
