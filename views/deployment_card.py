"""The deployment's card (ungrouped captures, or sessions out of date): Regroup, follow,
cancel, retry, dismiss, show. Regroup is a full one when the sessions are out of date.

Every button is a plain form POST that redirects (no JavaScript needed); with htmx the
same views answer with the region that changed: the card on the deployment page, or the
deployment's row of the project page's rollup (`region=rollup-row`).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from jobs.actions import cancel_job, retry_job, start
from jobs.job_type import NothingToDo
from jobs.models import REGROUP_JOB, Job
from jobs.regroup import FULL_PARAM, asks_for_full
from monitoring.models import Deployment, Project
from suggestions.dismissals import dismiss, undismiss
from suggestions.kinds import CardState, Viewer
from suggestions.sessions_out_of_date import regroup_params
from suggestions.ungrouped_captures import UNGROUPED_CAPTURES

from . import polling
from .access import require_manager, with_visible_project
from .cards import (
    deployment_card,
    deployment_card_id,
    render_card,
    render_progress,
    running_deployment_card,
)
from .deployments import with_deployment_stats
from .http import HtmxHttpRequest
from .projects import render_rollup_row


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def regroup_progress(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    """The running card's poll (see views.polling); opened without htmx, the page."""
    if not request.htmx:
        return redirect(get_object_or_404(project.deployments, pk=deployment_id))
    # The card follows the deployment's latest regroup.
    # While it runs, that one query is all a poll reads besides who is asking.
    job = (
        project.jobs.of_type(REGROUP_JOB)
        .for_deployment(deployment_id)
        .select_related("deployment")
        .defer("deployment__capture_nights")
        .newest()
    )
    if job is not None and job.is_active:
        if polling.unchanged(request, job):
            return polling.no_change()
        card = running_deployment_card(job, Viewer(request.user, project))
        return render_progress(request, card, card.dom_id)
    # The job has ended: the whole card, which reads the nights again for its strip.
    deployment = get_object_or_404(project.deployments.defer("capture_nights"), pk=deployment_id)
    card = deployment_card(deployment, Viewer(request.user, project), just_finished=True)
    response = render_progress(request, card, deployment_card_id(deployment))
    if card is None or card.suggestion.state != CardState.RUNNING:
        return with_deployment_stats(response, request, project, deployment)
    return response


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def regroup(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    try:
        job, created = start(REGROUP_JOB, deployment, request.user, regroup_params(deployment))
    except NothingToDo as nothing:
        return _nothing_to_do(request, deployment, nothing)
    if request.htmx:
        return _region(request, deployment)
    if created:
        messages.success(request, f"Regrouping {deployment} started.")
    else:
        messages.info(request, f"A regroup of {deployment} is already running: this one.")
    return redirect(job)


@require_POST
@with_visible_project
def regroup_full(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """Check every night: a regroup that redraws every session, not only around what
    changed. A form post that leads to the job's page, with or without JavaScript."""
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    job, created = start(REGROUP_JOB, deployment, request.user, params={FULL_PARAM: True})
    if created:
        messages.success(request, f"Checking every night of {deployment} started.")
    else:
        messages.info(request, f"A regroup of {deployment} is already running: this one.")
    return redirect(job)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def regroup_cancel(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    job = Job.objects.of_type(REGROUP_JOB).for_target(deployment).active().newest()
    if job is not None:
        cancel_job(job, request.user)
    if request.htmx:
        return _region(request, deployment)
    if job is None:
        messages.info(request, "No regroup of this deployment is running.")
    else:
        messages.warning(request, "Cancel asked: the regroup stops at its next safe point.")
    return redirect(deployment)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def regroup_retry(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    latest = Job.objects.of_type(REGROUP_JOB).for_target(deployment).newest()
    params = regroup_params(deployment)
    try:
        # A retry runs the job as it was asked; sessions out of date since need a full one.
        if latest is not None and latest.can_retry and (asks_for_full(latest.params) or not params):
            job, _ = retry_job(latest, request.user)
        else:
            job, _ = start(REGROUP_JOB, deployment, request.user, params)
    except NothingToDo as nothing:
        return _nothing_to_do(request, deployment, nothing)
    if request.htmx:
        return _region(request, deployment)
    messages.success(request, f"Regrouping {deployment} again.")
    return redirect(job)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def dismiss_card(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    dismiss(
        request.user,
        UNGROUPED_CAPTURES.key,
        deployment.pk,
        deployment.source_images_without_event_count,
    )
    if request.htmx:
        # The one-line "hidden suggestion · Show" that now stands in the card's place.
        return render_card(request, deployment_card(deployment, Viewer(request.user, project)))
    messages.info(
        request, "Hidden for you. It comes back if more captures need grouping, or with Show."
    )
    return redirect(deployment)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def show_card(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """Bring back a card this user hid."""
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    undismiss(request.user, UNGROUPED_CAPTURES.key, deployment.pk)
    if request.htmx:
        return render_card(request, deployment_card(deployment, Viewer(request.user, project)))
    return redirect(deployment)


def _nothing_to_do(
    request: HtmxHttpRequest, deployment: Deployment, nothing: NothingToDo
) -> HttpResponse:
    """No job was queued: htmx gets the region in its current state, a form post the why."""
    deployment.refresh_from_db()
    if request.htmx:
        return _region(request, deployment)
    messages.info(request, str(nothing))
    return redirect(deployment)


def _region(request: HtmxHttpRequest, deployment: Deployment) -> HttpResponse:
    if request.POST.get("region") == "rollup-row":
        return render_rollup_row(request, deployment)
    viewer = Viewer(request.user, deployment.project)
    return render_card(request, deployment_card(deployment, viewer, just_finished=True))
