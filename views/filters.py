"""GET filters for list pages, limited to one project's rows.

A value that isn't a row of this project (not a number, or another project's id) is
ignored and the page says so; the other filters still apply.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet

from monitoring.models import Deployment, Event, Occurrence, Project, Taxon

NO_SESSION = "none"


class ChoiceFromRows(forms.ModelChoiceField):
    """A model choice checked against its queryset's rows, read once: the page lists the
    same rows as its options."""

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        try:
            pk = int(value)
        except (TypeError, ValueError):
            pk = None
        for row in self.queryset:  # evaluated on the first pass, then kept
            if row.pk == pk:
                return row
        raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")


class DeploymentFilterForm(forms.Form):
    # Error messages stay unused: the templates word the notice for each field.
    deployment = ChoiceFromRows(queryset=None, required=False)

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        self.project = project
        self.fields["deployment"].queryset = project.deployments.defer("capture_nights")

    @property
    def deployments(self) -> list[Deployment]:
        """The project's deployments, the select's options: read once, for the filter's
        check and the page alike."""
        return list(self.fields["deployment"].queryset)


class OccurrenceFilterForm(DeploymentFilterForm):
    # An id, or NO_SESSION for occurrences without a session. Checked by hand because
    # the select lists only some sessions, while links may name any of the project's.
    session = forms.CharField(required=False)
    taxon = ChoiceFromRows(queryset=None, required=False)

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data, project=project)
        self.fields["taxon"].queryset = project_taxa(project)

    def clean_session(self) -> Event | str | None:
        value = self.cleaned_data["session"]
        if value in ("", NO_SESSION):
            return value or None
        try:
            return self.project.events.get(pk=int(value))
        except (ValueError, Event.DoesNotExist) as error:
            raise ValidationError("Not a session of this project.", code="invalid") from error


def project_taxa(project: Project) -> QuerySet[Taxon]:
    """Taxa determined for at least one of the project's occurrences.

    One index probe per taxon, rather than a DISTINCT over the project's occurrences,
    which reads all of them (a million in a big project).
    """
    in_project = Occurrence.objects.filter(project=project, determination=OuterRef("pk"))
    return Taxon.objects.filter(Exists(in_project))
