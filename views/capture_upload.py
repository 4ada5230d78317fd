"""The Add captures form and card, as the deployment page and the views need them: the
form (a CSV file or pasted rows) with the limits it states, and the card that follows the
deployment's latest Add captures job."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.urls import reverse

from jobs.add_captures import ADD_CAPTURES_JOB
from jobs.models import Job
from monitoring.importing import megabytes
from monitoring.models import Deployment
from suggestions.added_captures import suggestion_of
from suggestions.kinds import Suggestion, Viewer

from .cards import Card

FORM_TEMPLATE = "partials/add_captures_form.html"
# Pasting is for a few rows; a file is for more.
PASTE_MAX_CHARACTERS = 100_000
HEADER = "path,timestamp"


@dataclass
class AddCapturesCard(Card):
    # The upload form's id, where a failed card sends people with a corrected file.
    form_id: str = ""


def card_id(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}-add-captures"


def slot_id(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}-add-captures-slot"


def form_id(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}-add-captures-form"


def add_captures_card(
    deployment: Deployment, viewer: Viewer, just_finished: bool = False, job: Job | None = None
) -> AddCapturesCard | None:
    """The card of the deployment's latest Add captures job (`job` if the caller has it)."""
    job = job or Job.objects.of_type(ADD_CAPTURES_JOB).for_target(deployment).newest()
    suggestion = suggestion_of(deployment, job, viewer, just_finished)
    return _card(deployment, suggestion) if suggestion else None


def _card(deployment: Deployment, suggestion: Suggestion) -> AddCapturesCard:
    args = [deployment.project_id, deployment.pk]
    retry_url = reverse("deployment-add-captures-retry", args=args)
    return AddCapturesCard(
        suggestion,
        dom_id=card_id(deployment),
        action_url=retry_url,
        progress_url=reverse("deployment-add-captures-progress", args=args),
        retry_url=retry_url,
        cancel_url=reverse("deployment-add-captures-cancel", args=args),
        form_id=form_id(deployment),
    )


class AddCapturesForm(forms.Form):
    file = forms.FileField(required=False, label="A CSV file")
    rows = forms.CharField(
        required=False,
        label="Or paste rows",
        max_length=PASTE_MAX_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        initial=f"{HEADER}\n",
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        pasted = (cleaned.get("rows") or "").strip()
        # The header the box starts with is not a paste.
        has_rows = bool(pasted) and pasted.lower() != HEADER
        if cleaned.get("file") and has_rows:
            raise forms.ValidationError("Add a file or paste rows, not both.")
        if not cleaned.get("file") and not has_rows and not self.errors:
            raise forms.ValidationError(
                "Choose a CSV file, or paste rows under the header path,timestamp."
            )
        cleaned["rows"] = pasted if has_rows else ""
        return cleaned


def form_context(deployment: Deployment, form: AddCapturesForm | None = None) -> dict:
    """What the upload form's template needs: the form and the limits it states."""
    return {
        "add_form": form or AddCapturesForm(),
        "add_form_id": form_id(deployment),
        "add_slot_id": slot_id(deployment),
        "add_url": reverse("deployment-add-captures", args=[deployment.project_id, deployment.pk]),
        "max_size": megabytes(settings.CAPTURE_IMPORT_MAX_BYTES),
        "max_rows": settings.CAPTURE_IMPORT_MAX_ROWS,
        "paste_max": PASTE_MAX_CHARACTERS,
    }
