from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring.models import DEFAULT_SESSION_TIME_GAP_SECONDS, Project
from monitoring.permissions import visible_projects

from .access import with_visible_project
from .http import HtmxHttpRequest


@require_GET
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    # Aggregate outside visible_projects(): its membership join would multiply the sums.
    projects = Project.objects.filter(pk__in=visible_projects(request.user).values("pk")).annotate(
        deployments_total=Count("deployments"), captures_total=Sum("deployments__captures_count")
    )
    return render(request, "project_list.html", {"projects": projects})


@require_GET
@with_visible_project
def project_detail(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    gap = project.session_time_gap_seconds
    # The grouping engine falls back to the default when the setting is unusable.
    gap_is_default = gap is None or gap <= 0
    if gap_is_default:
        gap = DEFAULT_SESSION_TIME_GAP_SECONDS
    context = {
        "project": project,
        "deployments": project.deployments.all(),
        "gap_is_default": gap_is_default,
        "gap_seconds": gap,
        "gap_hours": gap // 3600,
        "gap_minutes": gap % 3600 // 60,
        "gap_remainder_seconds": gap % 60,
    }
    return render(request, "project_detail.html", context)
