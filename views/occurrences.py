from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring.models import Project
from monitoring.ungrouped import no_session_banner

from .access import with_visible_project
from .filters import NO_SESSION, OccurrenceFilterForm, project_taxa
from .http import HtmxHttpRequest
from .pagination import page_of


@require_GET
@with_visible_project
def occurrence_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    form = OccurrenceFilterForm(request.GET, project=project)
    form.is_valid()  # An invalid filter is left out of cleaned_data, and the page says so.
    filters = form.cleaned_data
    occurrences = project.occurrences.select_related("determination", "deployment", "event")
    if deployment := filters.get("deployment"):
        occurrences = occurrences.filter(deployment=deployment)
    session = filters.get("session")
    if session == NO_SESSION:
        occurrences = occurrences.filter(event__isnull=True)
    elif session:
        occurrences = occurrences.filter(event=session)
    if taxon := filters.get("taxon"):
        occurrences = occurrences.filter(determination=taxon)

    # Listing every session of a big project would make a huge select: offer those of
    # the chosen deployment, and always the chosen session itself.
    session_choices = list(deployment.events.order_by("-start", "-pk")) if deployment else []
    if session and session != NO_SESSION and session not in session_choices:
        session_choices.insert(0, session)

    context = {
        "project": project,
        "form": form,
        "deployment": deployment,
        "session": session,
        "taxon": taxon,
        "no_session": NO_SESSION,
        "deployments": project.deployments.all(),
        "session_choices": session_choices,
        "taxa": project_taxa(project),
        "occurrences": page_of(request, occurrences),
        "banner": no_session_banner(project, deployment, session, taxon),
    }
    return render(request, "occurrence_list.html", context)
