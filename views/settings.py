"""The project's Settings tab, for its managers: the session gap.

A plain form post that redirects back with a message; with htmx the same view answers
with the settings region, the result message first (where focus goes after the swap).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from monitoring.models import Project
from monitoring.session_settings import (
    MAX_GAP_SECONDS,
    MIN_GAP_SECONDS,
    change_session_gap,
    deployments_drawn_under_another_gap,
    deployments_with_unknown_gap,
)
from monitoring.staleness import project_gap_seconds
from suggestions.sessions_out_of_date import duration_words

from .access import require_manager, with_visible_project
from .http import HtmxHttpRequest


def _whole_number(name: str, most: int) -> forms.IntegerField:
    message = f"{name} must be a whole number from 0 to {most}."
    return forms.IntegerField(
        required=False,  # empty is 0: "2" hours needs no minutes
        min_value=0,
        max_value=most,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


class SessionGapForm(forms.Form):
    hours = _whole_number("Hours", 24)
    minutes = _whole_number("Minutes", 59)

    @classmethod
    def of(cls, project: Project) -> SessionGapForm:
        gap = project_gap_seconds(project)
        return cls(initial={"hours": gap // 3600, "minutes": gap % 3600 // 60})

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        seconds = (cleaned.get("hours") or 0) * 3600 + (cleaned.get("minutes") or 0) * 60
        if seconds < MIN_GAP_SECONDS:
            raise forms.ValidationError("The gap must be at least 1 minute.")
        if seconds > MAX_GAP_SECONDS:
            raise forms.ValidationError("The gap can be at most 24 hours.")
        cleaned["seconds"] = seconds
        return cleaned


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@with_visible_project
def project_settings(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    require_manager(request.user, project)
    result = ""
    if request.method == "POST":
        form = SessionGapForm(request.POST)
        if form.is_valid():
            changed = change_session_gap(project, form.cleaned_data["seconds"], request.user)
            result = _result(project, changed)
            if not request.htmx:
                messages.success(request, result)
                return redirect("project-settings", project.pk)
            form = SessionGapForm.of(project)
    else:
        form = SessionGapForm.of(project)
    gap = project_gap_seconds(project)
    affected = [
        (deployment, duration_words(deployment.sessions_gap_seconds))
        for deployment in deployments_drawn_under_another_gap(project)
    ]
    context = {
        "project": project,
        "form": form,
        "result": result,
        "gap_words": duration_words(gap),
        "affected": affected,
        "unknown_gap": deployments_with_unknown_gap(project),
    }
    template = "project_settings.html#settings-region" if request.htmx else "project_settings.html"
    return render(request, template, context)


def _result(project: Project, changed: bool) -> str:
    gap = duration_words(project_gap_seconds(project))
    if not changed:
        return f"Nothing changed: the session gap was already {gap}."
    return f"Saved: the session gap is now {gap}."
