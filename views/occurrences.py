from collections.abc import Sequence
from typing import Any, TypedDict

from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from monitoring.models import Deployment, Event, Project
from monitoring.occurrence_counts import occurrence_list_counts
from monitoring.ungrouped import no_session_banner

from .access import with_visible_project
from .display import DateTexts, id_urls, two_decimals
from .filters import NO_SESSION, OccurrenceFilterForm
from .http import HtmxHttpRequest
from .pagination import page_of, with_rows

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


class SessionOption(TypedDict):
    """An option of the session select."""

    value: str
    label: str
    selected: bool


class OccurrenceRow(TypedDict):
    """A row of the list, as shown; None where the row says there is none. A dict, not an
    object: the template finds a key at its first try, an attribute only after a failed
    key lookup."""

    number: str
    taxon: str | None
    score: str | None
    deployment_name: str
    deployment_url: str
    session_url: str | None
    session_start: str | None


@require_safe
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

    dates = DateTexts()
    session_choices = session_options(deployment, session, dates)

    # Read once, by the form: the deployment select, the stored counts and the banner's names.
    deployments = form.deployments
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
        "occurrences": with_rows(
            page_of(request, occurrences.values(*ROW_FIELDS, **ROW_NAMES), count=counts.total),
            lambda values: occurrence_rows(values, project, dates),
        ),
        "session_choices_cut": len(session_choices) >= SESSION_CHOICES,
        "banner": no_session_banner(covered, counts),
    }
    return render(request, "occurrence_list.html", context)


def session_options(
    deployment: Deployment | None, session: Event | str | None, dates: DateTexts
) -> list[SessionOption]:
    """The session select's options past "All" and "No session". Listing every session of
    a big project would make a huge select: the latest of the chosen deployment, and
    always the chosen session itself."""
    latest = (
        deployment.events.order_by("-start", "-pk").values_list("pk", "start")[:SESSION_CHOICES]
        if deployment
        else []
    )
    chosen = session.pk if isinstance(session, Event) else None
    options = [
        SessionOption(value=str(pk), label=dates.weekday_day_time(start), selected=pk == chosen)
        for pk, start in latest
    ]
    if chosen is not None and not any(option["selected"] for option in options):
        label = dates.weekday_day_time(session.start)
        options.insert(0, SessionOption(value=str(chosen), label=label, selected=True))
    return options


def occurrence_rows(
    values: Sequence[dict[str, Any]], project: Project, dates: DateTexts
) -> list[OccurrenceRow]:
    """A page's rows from its values (ROW_FIELDS and ROW_NAMES)."""
    deployment_url = id_urls("deployment-detail", project.pk)
    session_url = id_urls("session-detail", project.pk)
    return [
        OccurrenceRow(
            number=str(row["pk"]),
            taxon=row["taxon"] if row["determination_id"] else None,
            score=None
            if row["determination_score"] is None
            else two_decimals(row["determination_score"]),
            deployment_name=row["deployment_name"],
            deployment_url=deployment_url(row["deployment_id"]),
            session_url=session_url(row["event_id"]) if row["event_id"] else None,
            session_start=dates.weekday_day_time(row["session_start"]) if row["event_id"] else None,
        )
        for row in values
    ]
