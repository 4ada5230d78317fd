from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from monitoring.models import Project

from .access import with_visible_project
from .http import HtmxHttpRequest
from .pagination import page_of


@require_safe
@with_visible_project
def capture_list(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """A deployment's captures in time order; `?timestamp=none` lists the undated ones."""
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    undated = request.GET.get("timestamp") == "none"
    captures = deployment.captures.select_related("event").filter(timestamp__isnull=undated)
    context = {
        "project": project,
        "deployment": deployment,
        "undated": undated,
        "captures": page_of(request, captures.order_by("timestamp", "pk")),
    }
    return render(request, "capture_list.html", context)
