from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from monitoring.models import Project
from suggestions.kinds import Viewer

from .access import with_visible_project
from .cards import deployment_card
from .http import HtmxHttpRequest
from .pagination import page_of

# The page's latest sessions, fewer than a list page's 50: each row formats two dates and
# a duration, the most costly part of the page (the Sessions tab lists 50 a page).
SESSIONS_PER_PAGE = 25


@require_GET
@with_visible_project
def deployment_detail(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    viewer = Viewer(request.user, project)
    context = {
        "project": project,
        "deployment": deployment,
        "card": deployment_card(deployment, viewer),
        "can_act": viewer.can_act,
        "sessions": page_of(
            request, deployment.events.order_by("-start", "-pk"), per_page=SESSIONS_PER_PAGE
        ),
    }
    return render(request, "deployment_detail.html", context)
