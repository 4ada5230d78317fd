"""Shared fixtures: a private project with a manager, a basic member and an outsider."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from monitoring.models import Deployment, Project, ProjectMembership

PASSWORD = "correct-horse-battery"


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(name="Moths of the Fens", is_private=True)


@pytest.fixture
def deployment(project) -> Deployment:
    return Deployment.objects.create(project=project, name="Station A")


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def manager(project):
    user = _user("manager")
    ProjectMembership.objects.create(
        project=project, user=user, role=ProjectMembership.Role.PROJECT_MANAGER
    )
    return user


@pytest.fixture
def member(project):
    user = _user("member")
    ProjectMembership.objects.create(
        project=project, user=user, role=ProjectMembership.Role.BASIC_MEMBER
    )
    return user


@pytest.fixture
def outsider(db):
    return _user("outsider")
