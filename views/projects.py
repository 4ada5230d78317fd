from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from jobs.models import REGROUP_JOB, Job
from monitoring.grouping import session_gap
from monitoring.models import Deployment, Project
from monitoring.permissions import can_manage, visible_projects
from monitoring.suggestions import manager_names
from monitoring.ungrouped import project_rollup

from .access import with_visible_project
from .http import HtmxHttpRequest
from .jobs import present


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
    for deployment in rollup.deployments:
        deployment.regroup_job = _presented(rollup.active_jobs.get(deployment.pk))
    allowed = can_manage(request.user, project)
    context = {
        "project": project,
        "deployments": project.deployments.all(),
        "rollup": rollup,
        "can_manage": allowed,
        "managers": [] if allowed or not rollup.deployments else manager_names(project.pk),
        "gap_is_default": unusable_setting is not None,
        "gap_seconds": gap,
        "gap_hours": gap // 3600,
        "gap_minutes": gap % 3600 // 60,
        "gap_remainder_seconds": gap % 60,
    }
    return render(request, "project_detail.html", context)


@require_GET
@with_visible_project
def rollup_row(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """One deployment's row of the rollup; an active job's row polls it."""
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    return render_rollup_row(request, deployment)


def render_rollup_row(request: HtmxHttpRequest, deployment: Deployment) -> HttpResponse:
    job = Job.objects.active().filter(job_type_key=REGROUP_JOB, deployment=deployment).first()
    deployment.regroup_job = _presented(job)
    context = {
        "project": deployment.project,
        "deployment": deployment,
        "can_manage": can_manage(request.user, deployment.project),
    }
    return render(request, "project_detail.html#rollup-row", context)


def _presented(job: Job | None) -> Job | None:
    return present(job) if job else None
