from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from monitoring.models import Project

from .access import with_visible_project
from .filters import DeploymentFilterForm
from .http import HtmxHttpRequest
from .pagination import page_of

FIRST_CAPTURES = 50


@require_GET
@with_visible_project
def session_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    form = DeploymentFilterForm(request.GET, project=project)
    form.is_valid()  # An invalid filter is left out of cleaned_data, and the page says so.
    # Not the deployments' night strips: a list doesn't draw them.
    sessions = (
        project.events.select_related("deployment")
        .defer("deployment__capture_nights")
        .order_by("-start", "-pk")
    )
    if deployment := form.cleaned_data.get("deployment"):
        sessions = sessions.filter(deployment=deployment)
    context = {
        "project": project,
        "form": form,
        "deployment": deployment,
        "deployments": project.deployments.all(),
        "sessions": page_of(request, sessions),
    }
    return render(request, "session_list.html", context)


@require_GET
@with_visible_project
def session_detail(request: HtmxHttpRequest, project: Project, session_id: int) -> HttpResponse:
    session = get_object_or_404(project.events.select_related("deployment"), pk=session_id)
    context = {
        "project": project,
        "session": session,
        "captures": session.captures.order_by("timestamp", "pk")[:FIRST_CAPTURES],
    }
    return render(request, "session_detail.html", context)
