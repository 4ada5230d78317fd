from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from jobs.actions import start
from jobs.models import POPULATE_JOB
from monitoring.models import Project
from suggestions.empty_capture_set import empty_capture_sets
from suggestions.kinds import Viewer

from . import polling
from .access import require_manager, with_visible_project
from .cards import (
    capture_set_card,
    capture_set_card_id,
    capture_set_card_of,
    render_card,
    render_progress,
)
from .http import HtmxHttpRequest
from .pagination import page_of


@require_safe
@with_visible_project
def capture_set_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    capture_sets = page_of(request, project.capture_sets.all())
    # Who is looking is worked out once for the page, and every set's job in one query.
    suggestions = empty_capture_sets(list(capture_sets), Viewer(request.user, project))
    entries = [
        (capture_set, capture_set_card_of(suggestions[capture_set.pk]))
        if capture_set.pk in suggestions
        else (capture_set, None)
        for capture_set in capture_sets
    ]
    context = {"project": project, "capture_sets": capture_sets, "entries": entries}
    return render(request, "capture_set_list.html", context)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def capture_set_populate(
    request: HtmxHttpRequest, project: Project, capture_set_id: int
) -> HttpResponse:
    capture_set = get_object_or_404(project.capture_sets, pk=capture_set_id)
    require_manager(request.user, project)
    job, created = start(POPULATE_JOB, capture_set, request.user)
    if request.htmx:
        return render_card(
            request, capture_set_card(capture_set, Viewer(request.user, project), job)
        )
    if created:
        messages.info(request, f"Populating “{capture_set.name}” started.")
    else:
        messages.info(request, f"“{capture_set.name}” is already being populated by this job.")
    return redirect(job)


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def capture_set_progress(
    request: HtmxHttpRequest, project: Project, capture_set_id: int
) -> HttpResponse:
    """The running card's poll (see views.polling); opened without htmx, the list."""
    if not request.htmx:
        get_object_or_404(project.capture_sets, pk=capture_set_id)
        return redirect("capture-set-list", project.pk)
    # The card follows the set's latest populate job.
    job = project.jobs.of_type(POPULATE_JOB).for_capture_set(capture_set_id).newest()
    if polling.unchanged(request, job):
        return polling.no_change()
    capture_set = get_object_or_404(project.capture_sets, pk=capture_set_id)
    card = capture_set_card(capture_set, Viewer(request.user, project), job, just_finished=True)
    return render_progress(request, card, capture_set_card_id(capture_set))
