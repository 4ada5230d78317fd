from typing import Any

from django.contrib import messages
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from jobs.actions import start
from jobs.job_type import NothingToDo
from jobs.models import REGROUP_ALL_JOB, REGROUP_JOB
from jobs.regroup_all import plan_params
from monitoring.grouping import session_gap
from monitoring.models import Deployment, Project
from monitoring.permissions import can_manage, visible_projects
from suggestions.kinds import Viewer
from suggestions.rollup import project_rollup, regroup_all_of, regroup_all_plan, rollup_row_of

from . import polling
from .access import require_manager, with_visible_project
from .http import HtmxHttpRequest


@require_safe
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    # Aggregate outside visible_projects(): its membership join would multiply the sums.
    projects = Project.objects.filter(pk__in=visible_projects(request.user).values("pk")).annotate(
        deployments_total=Count("deployments"), captures_total=Sum("deployments__captures_count")
    )
    return render(request, "project_list.html", {"projects": projects})


@require_safe
@with_visible_project
def project_detail(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    gap, unusable_setting = session_gap(project.session_time_gap_seconds)
    context = {
        **_rollup_context(request, project),
        "deployments": project.deployments.all(),
        "gap_is_default": unusable_setting is not None,
        "gap_seconds": gap,
        "gap_hours": gap // 3600,
        "gap_minutes": gap % 3600 // 60,
        "gap_remainder_seconds": gap % 60,
    }
    return render(request, "project_detail.html", context)


def _rollup_context(request: HtmxHttpRequest, project: Project) -> dict[str, Any]:
    """What the project page's rollup shows: the deployments needing a regroup, each with
    its regroup, and Regroup all."""
    rollup = project_rollup(project)
    viewer = Viewer(request.user, project)
    return {
        "project": project,
        "rollup": rollup,
        "regroup_all": regroup_all_of(project, len(rollup.rows)),
        "can_manage": viewer.can_act,
        "managers": viewer.managers if rollup.rows else [],
    }


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def regroup_all(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    """Regroup every deployment that needs it, in one job. htmx gets the rollup, whose rows
    follow their deployments' regroups; a form post goes to the job's page."""
    require_manager(request.user, project)
    plan = regroup_all_plan(project)
    try:
        job, created = start(REGROUP_ALL_JOB, project, request.user, params=plan_params(plan))
    except NothingToDo as nothing:
        if request.htmx:
            context = {**_rollup_context(request, project), "notice": str(nothing)}
            return render(request, "project_detail.html#rollup", context)
        messages.info(request, str(nothing))
        return redirect(project)
    if request.htmx:
        return render(request, "project_detail.html#rollup", _rollup_context(request, project))
    if created:
        messages.success(request, f"{job.name}: started.")
    else:
        messages.info(request, f"A Regroup all of {project} is already running: this one.")
    return redirect(job)


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def regroup_all_progress(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    """The rollup's Regroup all while it runs (see views.polling); once it has ended, how it
    ended, with the rollup's heading out of band. Opened without htmx, the project page."""
    if not request.htmx:
        return redirect(project)
    running = project.jobs.of_type(REGROUP_ALL_JOB).active().newest()
    if polling.unchanged(request, running):
        return polling.no_change()
    rollup = project_rollup(project)
    context = {
        "project": project,
        "regroup_all": regroup_all_of(project, len(rollup.rows), just_finished=True),
        "can_manage": can_manage(request.user, project),
    }
    response = render(request, "project_detail.html#rollup-regroup-all", context)
    if running is None:
        response.content += render_to_string(
            "project_detail.html#rollup-heading",
            {"project": project, "rollup": rollup, "out_of_band": True},
            request,
        ).encode()
    return response


@require_safe
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
