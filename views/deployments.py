from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from monitoring.models import Project

from .access import with_visible_project
from .http import HtmxHttpRequest
from .pagination import page_of


@require_GET
@with_visible_project
def deployment_detail(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    sessions = page_of(request, deployment.events.order_by("-start", "-pk"))
    context = {"project": project, "deployment": deployment, "sessions": sessions}
    return render(request, "deployment_detail.html", context)
