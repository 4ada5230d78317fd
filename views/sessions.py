from collections.abc import Sequence
from typing import Any, TypedDict

from django.core.paginator import Page
from django.db.models import F, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from monitoring.models import Event, Project

from .access import with_visible_project
from .display import DateTexts, DurationTexts, id_urls
from .filters import DeploymentFilterForm
from .http import HtmxHttpRequest
from .pagination import PER_PAGE, page_of, with_rows

FIRST_CAPTURES = 50
# What a row of partials/sessions_table.html shows, read as plain values.
ROW_FIELDS = ("pk", "start", "end", "captures_count", "occurrences_count")


class SessionRow(TypedDict):
    """A row of the sessions table, as shown (a dict, like views.occurrences.OccurrenceRow)."""

    url: str
    start_iso: str
    start: str
    end_iso: str
    end: str
    duration: str
    captures: str
    occurrences: str
    deployment_name: str | None  # on a list of several deployments' sessions
    deployment_url: str | None


@require_safe
@with_visible_project
def session_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    form = DeploymentFilterForm(request.GET, project=project)
    form.is_valid()  # An invalid filter is left out of cleaned_data, and the page says so.
    sessions = project.events.order_by("-start", "-pk")
    if deployment := form.cleaned_data.get("deployment"):
        sessions = sessions.filter(deployment=deployment)
    context = {
        "project": project,
        "form": form,
        "deployment": deployment,
        "deployments": form.deployments,  # read once, by the form
        "sessions": sessions_page(request, project, sessions, with_deployment=True),
    }
    return render(request, "session_list.html", context)


@require_safe
@with_visible_project
def session_detail(request: HtmxHttpRequest, project: Project, session_id: int) -> HttpResponse:
    session = get_object_or_404(project.events.select_related("deployment"), pk=session_id)
    context = {
        "project": project,
        "session": session,
        "captures": session.captures.order_by("timestamp", "pk")[:FIRST_CAPTURES],
    }
    return render(request, "session_detail.html", context)


def sessions_page(
    request: HtmxHttpRequest,
    project: Project,
    sessions: QuerySet[Event],
    per_page: int = PER_PAGE,
    with_deployment: bool = False,
) -> Page:
    """The requested page of `sessions` (a project's), as rows of the sessions table; with
    each session's deployment when the table shows that column."""
    names = {"deployment_name": F("deployment__name")} if with_deployment else {}
    fields = (*ROW_FIELDS, "deployment_id") if with_deployment else ROW_FIELDS
    page = page_of(request, sessions.values(*fields, **names), per_page=per_page)
    return with_rows(page, lambda values: session_rows(values, project))


def session_rows(values: Sequence[dict[str, Any]], project: Project) -> list[SessionRow]:
    session_url = id_urls("session-detail", project.pk)
    deployment_url = id_urls("deployment-detail", project.pk)
    dates, durations = DateTexts(), DurationTexts()
    return [
        SessionRow(
            url=session_url(row["pk"]),
            # ISO strings in UTC, the same instant as the text: the datetime attribute.
            start_iso=row["start"].isoformat(),
            start=dates.weekday_day_time(row["start"]),
            end_iso=row["end"].isoformat(),
            end=dates.day_time(row["end"]),
            duration=durations.between(row["start"], row["end"]),
            captures=f"{row['captures_count']:,}",
            occurrences=f"{row['occurrences_count']:,}",
            deployment_name=row.get("deployment_name"),
            deployment_url=deployment_url(row["deployment_id"]) if "deployment_id" in row else None,
        )
        for row in values
    ]
