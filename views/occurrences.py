from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring.models import Event, Project
from monitoring.occurrence_counts import occurrence_list_counts
from monitoring.ungrouped import no_session_banner

from .access import with_visible_project
from .filters import NO_SESSION, OccurrenceFilterForm
from .http import HtmxHttpRequest
from .pagination import page_of

# Each option's date costs as much to format as a table row: 50, like a page of rows.
SESSION_CHOICES = 50
# What a row shows, read as plain values: building an occurrence, its taxon, deployment
# and session as four model instances per row cost more than the query.
ROW_FIELDS = ("pk", "determination_id", "determination_score", "deployment_id", "event_id")
ROW_NAMES = {
    "taxon": F("determination__name"),
    "deployment_name": F("deployment__name"),
    "session_start": F("event__start"),
}


@require_GET
@with_visible_project
def occurrence_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    form = OccurrenceFilterForm(request.GET, project=project)
    form.is_valid()  # An invalid filter is left out of cleaned_data, and the page says so.
    filters = form.cleaned_data
    occurrences = project.occurrences.all()
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

    # Read once: the deployment select, the stored counts and the banner's names.
    deployments = list(project.deployments.defer("capture_nights"))
    covered = [d for d in deployments if d == deployment] if deployment else deployments
    counts = occurrence_list_counts(
        occurrences,
        covered,
        session=session if isinstance(session, Event) else None,
        without_session=session == NO_SESSION,
        taxon=taxon,
    )

    context = {
        "project": project,
        "form": form,
        "deployment": deployment,
        "session": session,
        "taxon": taxon,
        "no_session": NO_SESSION,
        "deployments": deployments,
        "session_choices": session_choices,
        "taxa": form.fields["taxon"].queryset,  # read once, by the form
        "occurrences": page_of(
            request, occurrences.values(*ROW_FIELDS, **ROW_NAMES), count=counts.total
        ),
        "session_choices_cut": len(session_choices) >= SESSION_CHOICES,
        "banner": no_session_banner(covered, counts),
    }
    return render(request, "occurrence_list.html", context)
