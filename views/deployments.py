from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_safe

from monitoring.models import Deployment, Project
from suggestions.kinds import Viewer

from .access import with_visible_project
from .capture_upload import AddCapturesForm, add_captures_card, form_context
from .cards import deployment_card
from .http import HtmxHttpRequest
from .sessions import sessions_page

# The page's latest sessions, fewer than a list page's 50: each row formats two dates and
# a duration, once the most costly part of the page (the Sessions tab lists 50 a page).
SESSIONS_PER_PAGE = 25


@require_safe
@with_visible_project
def deployment_detail(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    return render_deployment_page(request, project, deployment)


def render_deployment_page(
    request: HtmxHttpRequest,
    project: Project,
    deployment: Deployment,
    add_form: AddCapturesForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The deployment's page; `add_form` is the Add captures form with its errors, if any."""
    viewer = Viewer(request.user, project)
    context = {
        "project": project,
        "deployment": deployment,
        "card": deployment_card(deployment, viewer),
        "import_card": add_captures_card(deployment, viewer),
        "can_act": viewer.can_act,
        "sessions": sessions_page(
            request, project, deployment.events.order_by("-start", "-pk"), SESSIONS_PER_PAGE
        ),
        **(form_context(deployment, add_form) if viewer.can_act else {}),
    }
    return render(request, "deployment_detail.html", context, status=status)


def with_deployment_stats(
    response: HttpResponse, request: HtmxHttpRequest, project: Project, deployment: Deployment
) -> HttpResponse:
    """`response` with the page's counts of `deployment` added out of band, for the answer
    that tells a card its job has ended: the job changed them."""
    stats = render_to_string(
        "deployment_detail.html#deployment-stats",
        {"project": project, "deployment": deployment, "out_of_band": True},
        request,
    )
    response.content += stats.encode()
    return response
