"""Shared fixtures: a private project with a manager, a basic member and an outsider, and
real worker processes. Tests that start a worker are marked `worker` and tests that drive
a browser `browser`, here, by the fixtures they use: `make test-fast` leaves both out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.var_dir import ensure_var_dirs
from monitoring.models import Deployment, Project, ProjectMembership
from tests.factories import make_member, make_user
from tests.worker_process import CeleryWorker, running_worker

E2E_DIR = Path(__file__).parent / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    # The test database and the broker live under VAR_DIR, as in any process that starts.
    ensure_var_dirs()
    # Production's hasher is slow on purpose; here it was most of the suite's time. Only
    # this process: servers and workers the tests start keep the default hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# First, so that `-m` sees these marks when it selects.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "start_worker" in fixtures:
            item.add_marker(pytest.mark.worker)
        if "browser" in fixtures or E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _static_files_by_source_name(settings) -> None:
    """Pages link static files by their source names: the suite runs no collectstatic.

    Production's hashed names need the manifest that collectstatic writes; the production
    smoke test (tests/e2e/test_production.py) runs it and checks those.
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(name="Moths of the Fens", is_private=True)


@pytest.fixture
def deployment(project) -> Deployment:
    return Deployment.objects.create(project=project, name="Station A")


@pytest.fixture
def manager(project):
    return make_member(project, "manager", ProjectMembership.Role.PROJECT_MANAGER)


@pytest.fixture
def member(project):
    return make_member(project, "member", ProjectMembership.Role.BASIC_MEMBER)


@pytest.fixture
def outsider(db):
    return make_user("outsider")


StartWorker = Callable[..., AbstractContextManager[CeleryWorker]]


@pytest.fixture
def start_worker(transactional_db: None, tmp_path: Path) -> StartWorker:
    """Starts real Celery worker processes on the test database, each for a `with` block:
    `with start_worker("first", pause_after_chunk=1) as worker:` (see `running_worker`).

    Needs committed data (hence `transactional_db`): a worker has its own connection and
    cannot see a test's open transaction.
    """

    def start(name: str, **options) -> AbstractContextManager[CeleryWorker]:
        return running_worker(connection.settings_dict, tmp_path / name, **options)

    return start


@pytest.fixture
def live_worker(start_worker: StartWorker) -> Iterator[CeleryWorker]:
    """A real Celery worker process on the test database, stopped after the test."""
    with start_worker("worker") as worker:
        yield worker
