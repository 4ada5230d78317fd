"""Shared fixtures: a private project with a manager, a basic member and an outsider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from config.var_dir import ensure_var_dirs
from monitoring.models import Deployment, Project, ProjectMembership
from tests.worker_process import CeleryWorker, running_worker

PASSWORD = "correct-horse-battery"


def pytest_configure(config: pytest.Config) -> None:
    # The test database and the broker live under VAR_DIR, as in any process that starts.
    ensure_var_dirs()
    # Production's hasher is slow on purpose; here it was most of the suite's time. Only
    # this process: servers and workers the tests start keep the default hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def _member(project: Project, username: str, role: str):
    user = _user(username)
    ProjectMembership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def manager(project):
    return _member(project, "manager", ProjectMembership.Role.PROJECT_MANAGER)


@pytest.fixture
def member(project):
    return _member(project, "member", ProjectMembership.Role.BASIC_MEMBER)


@pytest.fixture
def outsider(db):
    return _user("outsider")


@pytest.fixture
def live_worker(transactional_db: None, tmp_path: Path) -> Iterator[CeleryWorker]:
    """A real Celery worker process on the test database, stopped after the test.

    Needs committed data (hence `transactional_db`): the worker has its own connection and
    cannot see a test's open transaction.
    """
    with running_worker(connection.settings_dict, tmp_path / "worker") as worker:
        yield worker
