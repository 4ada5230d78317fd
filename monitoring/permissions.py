"""Who may see and act on a project.

Private projects are visible to members only; public projects are readable by anyone.
Acting (regroup, populate, cancel or retry jobs) needs the project manager role or staff.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, Q, QuerySet, Subquery

from .models import Project, ProjectMembership

User = AbstractBaseUser | AnonymousUser


def visible_projects(user: User) -> QuerySet[Project]:
    projects = Project.objects.all()
    if user.is_staff:
        return projects
    if not user.is_authenticated:
        return projects.filter(is_private=False)
    return projects.filter(Q(is_private=False) | Q(memberships__user=user)).distinct()


def visible_project(user: User, project_id: int) -> Project | None:
    """Project `project_id`, if `user` may see it; with the user's role in it read by the
    same query and kept as role_in keeps it. Every project page asks for that role (its
    tabs, its buttons), and a query of its own cost a page as much as its rows."""
    projects = visible_projects(user).filter(pk=project_id)
    if not user.is_authenticated:
        return projects.first()
    # One membership per project and user (a unique constraint).
    role = ProjectMembership.objects.filter(project=OuterRef("pk"), user=user).values("role")
    project = projects.annotate(viewer_role=Subquery(role)).first()
    if project is not None:
        _roles(user)[project.pk] = project.viewer_role
    return project


def role_in(user: User, project: Project) -> str | None:
    """The user's role in the project, read once per user object (a request's user, so once
    per request however many parts of a page ask), as Django caches permissions on it."""
    if not user.is_authenticated:
        return None
    roles = _roles(user)
    if project.pk not in roles:
        roles[project.pk] = (
            ProjectMembership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
    return roles[project.pk]


def _roles(user: User) -> dict[int, str | None]:
    """The roles read for this user object so far, by project id."""
    return user.__dict__.setdefault("_project_roles", {})


def can_manage(user: User, project: Project) -> bool:
    """Regroup, populate, cancel and retry are for project managers and staff."""
    if user.is_staff:
        return True
    return role_in(user, project) == ProjectMembership.Role.PROJECT_MANAGER


def manager_names(project_id: int, limit: int = 3) -> list[str]:
    """Who to ask, for members who can't act themselves (a few names)."""
    return list(
        ProjectMembership.objects.filter(
            project_id=project_id, role=ProjectMembership.Role.PROJECT_MANAGER
        )
        .order_by("user__username")
        .values_list("user__username", flat=True)[:limit]
    )
