from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring.models import Project
from monitoring.occurrence_counts import stored_occurrence_count
from monitoring.ungrouped import no_session_banner

from .access import with_visible_project
from .filters import NO_SESSION, OccurrenceFilterForm, project_taxa
from .http import HtmxHttpRequest
from .pagination import page_of

SESSION_CHOICES = 100
TRUST_STORED_COUNT_FROM = 10_000


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

    # Listing every session of a big project would make a huge select: offer the latest
    # of the chosen deployment, and always the chosen session itself.
    session_choices = (
        list(deployment.events.order_by("-start", "-pk")[:SESSION_CHOICES]) if deployment else []
    )
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
        "occurrences": page_of(request, occurrences, count=_stored_count(project, filters)),
        "session_choices_cut": len(session_choices) >= SESSION_CHOICES,
        "banner": no_session_banner(project, deployment, session, taxon),
    }
    return render(request, "occurrence_list.html", context)


def _stored_count(project: Project, filters: dict) -> int | None:
    """The list's size from the deployments' stored counts, for big lists only.

    A taxon or a particular session is counted through its index. Small lists are always
    counted: cheap, and exact even if a pipeline added occurrences without refreshing the
    stored numbers. Past TRUST_STORED_COUNT_FROM, a slightly stale total only shifts page
    links, while counting would cost more than the rest of the page.
    """
    session = filters.get("session")
    if filters.get("taxon") or (session and session != NO_SESSION):
        return None
    stored = stored_occurrence_count(
        project, filters.get("deployment"), without_session=session == NO_SESSION
    )
    return stored if stored >= TRUST_STORED_COUNT_FROM else None
