"""Who may open a project's pages, decided in one place for every project view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from monitoring.models import Project
from monitoring.permissions import can_manage, visible_project

from .http import HtmxHttpRequest

ProjectView = Callable[..., HttpResponse]


def with_visible_project(view: ProjectView) -> ProjectView:
    """Turn the URL's `project_id` into the `project` argument, if the user may see it.

    Anonymous users are sent to sign in for any project they can't see, private or
    missing alike, so the redirect tells them nothing; signed-in users get a 404. Every
    action (a POST) needs a signed-in user, even on a public project.
    """

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, project_id: int, **kwargs: object) -> HttpResponse:
        if request.method == "POST" and not request.user.is_authenticated:
            return redirect_to_sign_in(request)
        project = visible_project(request.user, project_id)
        if project is None:
            if not request.user.is_authenticated:
                return redirect_to_sign_in(request)
            raise Http404("No such project.")
        return view(request, project, **kwargs)

    return wrapper


def redirect_to_sign_in(request: HtmxHttpRequest) -> HttpResponse:
    """Send a signed-out user to sign in, and back to the page they were on afterwards.

    That page is the request's own URL only for a plain GET: an htmx request comes from the
    page in `HX-Current-URL` (and must load the sign-in page whole, not inside a card), and
    a form post from its referring page, since a POST-only URL can't be landed on.
    """
    if request.htmx:
        return HttpResponseClientRedirect(
            redirect_to_login(_same_site_path(request, request.htmx.current_url)).url
        )
    if request.method == "GET":
        return redirect_to_login(request.get_full_path())
    return redirect_to_login(_same_site_path(request, request.headers.get("referer")))


def _same_site_path(request: HtmxHttpRequest, url: str | None) -> str:
    """`url` as a path on this site, or the projects list if it is missing or elsewhere."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return reverse("project-list")


def require_manager(user: object, project: Project) -> None:
    """Acting on a project (regroup, populate, cancel, retry) is for its managers and staff."""
    if not can_manage(user, project):
        raise PermissionDenied("Only the project's managers can do this.")
