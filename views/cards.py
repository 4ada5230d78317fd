"""A suggested-action card as the templates need it: a suggestion plus where its buttons post.

One card partial (templates/partials/suggested_action.html) draws every card from its
suggestion's fields; this module adds the element id and the URLs of each target's card,
and answers a running card's poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django_htmx.http import reswap, retarget

from jobs.models import Job
from monitoring.capture_nights import NightStrip, night_strip
from monitoring.models import Deployment, SourceImageCollection
from suggestions.empty_capture_set import empty_capture_set
from suggestions.kinds import CardState, Suggestion, Viewer
from suggestions.sessions_out_of_date import deployment_suggestion, running_deployment_suggestion

from .http import HtmxHttpRequest

CARD_TEMPLATE = "partials/suggested_action.html"


@dataclass
class Card:
    suggestion: Suggestion
    dom_id: str
    action_url: str
    progress_url: str
    retry_url: str
    cancel_url: str | None = None
    dismiss_url: str | None = None
    show_url: str | None = None
    strip: NightStrip | None = None


def deployment_card_id(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}-card"


def capture_set_card_id(collection: SourceImageCollection) -> str:
    return f"capture-set-{collection.pk}-suggestion"


def deployment_card(
    deployment: Deployment, viewer: Viewer, just_finished: bool = False
) -> Card | None:
    suggestion = deployment_suggestion(deployment, viewer, just_finished=just_finished)
    return _deployment_card(deployment, suggestion) if suggestion else None


def running_deployment_card(job: Job, viewer: Viewer) -> Card:
    """The card of a deployment whose latest regroup, `job`, is active, for its progress
    poll: built from the job and its deployment (fetched with it) alone."""
    return _deployment_card(job.deployment, running_deployment_suggestion(job, viewer))


def _deployment_card(deployment: Deployment, suggestion: Suggestion) -> Card:
    args = [deployment.project_id, deployment.pk]
    return Card(
        suggestion,
        dom_id=deployment_card_id(deployment),
        action_url=reverse("deployment-regroup", args=args),
        progress_url=reverse("deployment-regroup-progress", args=args),
        retry_url=reverse("deployment-regroup-retry", args=args),
        cancel_url=reverse("deployment-regroup-cancel", args=args),
        dismiss_url=reverse("deployment-card-dismiss", args=args)
        if suggestion.kind.dismissable
        else None,
        show_url=reverse("deployment-card-show", args=args),
        # A running card shows no strip, and its polls need not read the nights.
        strip=None
        if suggestion.state == CardState.RUNNING
        else night_strip(deployment.capture_nights),
    )


def capture_set_card(
    collection: SourceImageCollection,
    viewer: Viewer,
    job: Job | None,
    just_finished: bool = False,
) -> Card | None:
    suggestion = empty_capture_set(collection, viewer, job, just_finished=just_finished)
    return capture_set_card_of(suggestion) if suggestion else None


def capture_set_card_of(suggestion: Suggestion) -> Card:
    collection = suggestion.target
    args = [collection.project_id, collection.pk]
    populate_url = reverse("capture-set-populate", args=args)
    return Card(
        suggestion,
        dom_id=capture_set_card_id(collection),
        action_url=populate_url,
        progress_url=reverse("capture-set-progress", args=args),
        retry_url=populate_url,
    )


def render_card(request: HtmxHttpRequest, card: Card | None) -> HttpResponse:
    return render(request, CARD_TEMPLATE, {"card": card})


def render_progress(request: HtmxHttpRequest, card: Card | None, dom_id: str) -> HttpResponse:
    """A running card's poll: its progress region while the job runs, with words for screen
    readers when the job's status, stage or tenth done changed since the last words sent;
    after that the whole card in its final state, swapped over the card, which ends the
    polling, and the outcome in words, once."""
    job_view = card.suggestion.job_view if card is not None else None
    if card is not None and card.suggestion.state == CardState.RUNNING:
        announce = request.GET.get("announced") != job_view.announcement
        context = {"card": card, "announce": announce}
        return render(request, f"{CARD_TEMPLATE}#card-progress", context)
    response = reswap(retarget(render_card(request, card), f"#{dom_id}"), "outerHTML")
    if job_view is not None:
        outcome = {"card": card, "announce": True}
        response.content += render_to_string(
            f"{CARD_TEMPLATE}#card-announce", outcome, request
        ).encode()
    return response
