"""Production smoke test: the Procfile's release and web processes with DEBUG off and the
documented environment, a real worker on the configured broker, and Chromium in front.

The web process sits where it would behind a TLS-terminating proxy: the browser sends the
proxy's `X-Forwarded-Proto: https`, so secure cookies, the HTTPS redirect and CSRF's origin
check all run as they do in production, over the test's loopback connection.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connection
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import JOB_TIMEOUT_MS, TIMEOUT_MS, assert_no_axe_violations
from tests.factories import PASSWORD
from tests.production import BASE_DIR, procfile_command, production_environment
from tests.worker_process import CeleryWorker, database_url_for, poll_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def production_site(live_worker: CeleryWorker, tmp_path: Path) -> Iterator[str]:
    """The Procfile's `release` then `web`, as an operator runs them; yields the base URL."""
    port = free_port()
    env = {
        **production_environment(),
        "PORT": str(port),
        "ALLOWED_HOSTS": "127.0.0.1",
        # The browser's origin is plain http on loopback; the proxy header makes it https.
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": live_worker.queue,
        "VAR_DIR": str(settings.VAR_DIR),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PYTHONUNBUFFERED": "1",
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    release = subprocess.run(
        ["bash", "-c", procfile_command("release")],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            ["bash", "-c", f"exec {procfile_command('web')}"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        poll_until(
            lambda: web.poll() is not None or accepts_connections(port),
            timeout=30,
            what="the web process to listen",
        )
        assert web.poll() is None, log_path.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=15)


@pytest.fixture
def behind_tls_proxy(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(extra_http_headers={"X-Forwarded-Proto": "https"})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture
def manager_with_a_production_hash(manager):
    """The manager, with their password hashed as production hashes it: the test process's
    quick hasher is not one the production web process accepts."""
    manager.password = make_password(PASSWORD, hasher=PBKDF2PasswordHasher())
    manager.save(update_fields=["password"])
    return manager


def test_the_production_site_is_styled_runs_htmx_and_regroups_through_a_worker(
    production_site: str,
    behind_tls_proxy: Page,
    manager_with_a_production_hash,
    three_ungrouped_nights,
) -> None:
    page = behind_tls_proxy
    manager = manager_with_a_production_hash
    page.goto(f"{production_site}/accounts/login/?next={three_ungrouped_nights.get_absolute_url()}")
    assert_no_axe_violations(page)
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=three_ungrouped_nights.name, level=1)).to_be_visible()

    # The stylesheet and htmx come from the web process itself, under hashed names.
    stylesheet = page.locator("link[rel=stylesheet]").get_attribute("href")
    assert re.fullmatch(r"/static/css/site\.[0-9a-f]{12}\.css", stylesheet or "")
    css = page.request.get(f"{production_site}{stylesheet}")
    assert css.ok and "immutable" in css.headers["cache-control"]
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 247, 249)"  # --bg in site.css, not the browser's white
    assert page.evaluate("typeof window.htmx") == "object"
    assert_no_axe_violations(page)

    card = page.locator(f"#deployment-{three_ungrouped_nights.pk}-card")
    expect(card).to_contain_text("18 captures aren't grouped into a session.")
    card.get_by_role("button", name="Regroup").click()
    expect(card).to_contain_text("All captures are grouped into sessions.", timeout=JOB_TIMEOUT_MS)
    assert page.url.endswith(
        three_ungrouped_nights.get_absolute_url()
    )  # htmx swapped, no page load
    three_ungrouped_nights.refresh_from_db()
    assert three_ungrouped_nights.source_images_without_event_count == 0

    page.reload()
    expect(page.get_by_role("heading", name=three_ungrouped_nights.name, level=1)).to_be_visible()
    expect(card).to_have_count(0)


def test_the_production_site_answers_errors_in_its_layout_and_sends_http_to_https(
    production_site: str, behind_tls_proxy: Page, browser: Browser
) -> None:
    response = behind_tls_proxy.goto(f"{production_site}/no/such/page/")

    assert response is not None and response.status == 404
    expect(behind_tls_proxy.get_by_role("heading", name="There's nothing here")).to_be_visible()
    assert behind_tls_proxy.evaluate("getComputedStyle(document.body).backgroundColor") == (
        "rgb(246, 247, 249)"
    )
    assert_no_axe_violations(behind_tls_proxy)

    # Without the proxy's header the request came over plain HTTP: production sends it on.
    plain = browser.new_context()
    try:
        response = plain.request.get(f"{production_site}/", max_redirects=0)
    finally:
        plain.close()
    assert response.status == 301
    assert response.headers["location"].startswith("https://127.0.0.1:")
