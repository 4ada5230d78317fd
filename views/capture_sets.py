from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from jobs.actions import start_populate
from jobs.models import POPULATE_JOB, Job
from monitoring.models import Project
from monitoring.permissions import can_manage

from .access import with_visible_project
from .http import HtmxHttpRequest
from .pagination import page_of


@require_GET
@with_visible_project
def capture_set_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    capture_sets = page_of(request, project.capture_sets.all())
    # One query for the populate jobs running on the listed sets.
    active = {
        job.source_image_collection_id: job
        for job in Job.objects.active().filter(
            job_type_key=POPULATE_JOB, source_image_collection__in=list(capture_sets)
        )
    }
    for capture_set in capture_sets:
        capture_set.active_job = active.get(capture_set.pk)
    context = {
        "project": project,
        "capture_sets": capture_sets,
        "can_manage": can_manage(request.user, project),
    }
    return render(request, "capture_set_list.html", context)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def capture_set_populate(
    request: HtmxHttpRequest, project: Project, capture_set_id: int
) -> HttpResponse:
    capture_set = get_object_or_404(project.capture_sets, pk=capture_set_id)
    if not can_manage(request.user, project):
        raise PermissionDenied("Only project managers can populate capture sets.")
    job, created = start_populate(capture_set, request.user)
    if request.htmx:
        capture_set.active_job = job
        context = {"project": project, "capture_set": capture_set, "can_manage": True}
        return render(request, "capture_set_list.html#capture-set-card", context)
    if created:
        messages.info(request, f"Populating “{capture_set.name}” started.")
    else:
        messages.info(request, f"“{capture_set.name}” is already being populated by this job.")
    return redirect(job)
