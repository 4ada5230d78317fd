"""Who may open a project's pages, decided in one place for every project view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from monitoring.models import Project
from monitoring.permissions import can_manage, visible_projects

from .http import HtmxHttpRequest

ProjectView = Callable[..., HttpResponse]


def with_visible_project(view: ProjectView) -> ProjectView:
    """Turn the URL's `project_id` into the `project` argument, if the user may see it.

    Anonymous users are sent to sign in for any project they can't see, private or
    missing alike, so the redirect tells them nothing; signed-in users get a 404.
    """

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, project_id: int, **kwargs: object) -> HttpResponse:
        project = visible_projects(request.user).filter(pk=project_id).first()
        if project is None:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise Http404("No such project.")
        return view(request, project, **kwargs)

    return wrapper


def require_manager(user: object, project: Project) -> None:
    """Acting on a project (regroup, populate, cancel, retry) is for its managers and staff."""
    if not can_manage(user, project):
        raise PermissionDenied("Only the project's managers can do this.")
