from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from jobs.models import REGROUP_JOB
from monitoring.grouping import session_gap
from monitoring.models import Deployment, Project
from monitoring.permissions import can_manage, visible_projects
from suggestions.kinds import Viewer
from suggestions.rollup import project_rollup, rollup_row_of

from . import polling
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
    gap, unusable_setting = session_gap(project.session_time_gap_seconds)
    rollup = project_rollup(project)
    viewer = Viewer(request.user, project)
    context = {
        "project": project,
        "deployments": project.deployments.all(),
        "rollup": rollup,
        "can_manage": viewer.can_act,
        "managers": viewer.managers if rollup.rows else [],
        "gap_is_default": unusable_setting is not None,
        "gap_seconds": gap,
        "gap_hours": gap // 3600,
        "gap_minutes": gap % 3600 // 60,
        "gap_remainder_seconds": gap % 60,
    }
    return render(request, "project_detail.html", context)


@require_GET
@vary_on_headers("HX-Request")
@with_visible_project
def rollup_row(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """One deployment's row of the rollup; an active job's row polls it (views.polling).
    Opened without htmx, the project page."""
    if not request.htmx:
        get_object_or_404(project.deployments, pk=deployment_id)
        return redirect(project)
    running = project.jobs.of_type(REGROUP_JOB).for_deployment(deployment_id).active().newest()
    if polling.unchanged(request, running):
        return polling.no_change()
    deployment = get_object_or_404(project.deployments.defer("capture_nights"), pk=deployment_id)
    return render_rollup_row(request, deployment)


def render_rollup_row(request: HtmxHttpRequest, deployment: Deployment) -> HttpResponse:
    """The deployment's rollup row; once no regroup of it is running, with the rollup's
    heading and the deployment's row of the table, out of band, so the page agrees."""
    project = deployment.project
    row = rollup_row_of(deployment)
    context = {"project": project, "row": row, "can_manage": can_manage(request.user, project)}
    response = render(request, "project_detail.html#rollup-row", context)
    if row.regroup is None:
        out_of_band = {"project": project, "out_of_band": True}
        for partial, extra in (
            ("rollup-heading", {"rollup": project_rollup(project)}),
            ("deployment-row", {"deployment": deployment}),
        ):
            response.content += render_to_string(
                f"project_detail.html#{partial}", {**out_of_band, **extra}, request
            ).encode()
    return response
