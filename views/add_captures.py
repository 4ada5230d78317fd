"""Add captures from the browser: the deployment page's upload form (a CSV file or pasted
rows) and the card that follows the Add captures job it starts: progress, cancel, retry.

Every form is a plain POST that redirects (no JavaScript needed); with htmx the same views
answer with the region that changed: the card, or the form with its errors.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from jobs.actions import cancel_job, retry_job, start
from jobs.add_captures import ADD_CAPTURES_JOB, params_for
from jobs.job_type import NothingToDo
from jobs.models import Job
from monitoring.capture_uploads import (
    StoredUpload,
    UploadRefused,
    delete_upload,
    store_text,
    store_upload,
)
from monitoring.models import Deployment, Project
from suggestions.kinds import Viewer

from . import polling
from .access import require_manager, with_visible_project
from .capture_upload import (
    FORM_TEMPLATE,
    AddCapturesForm,
    add_captures_card,
    card_id,
    form_context,
    form_id,
)
from .cards import render_card, render_progress
from .deployments import render_deployment_page, with_deployment_stats
from .http import HtmxHttpRequest


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def add_captures(request: HtmxHttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    form = AddCapturesForm(request.POST, request.FILES)
    job = _start(request, deployment, form) if form.is_valid() else None
    if job is None:
        return _form_errors(request, project, deployment, form)
    if request.htmx:
        viewer = Viewer(request.user, project)
        response = render_card(request, add_captures_card(deployment, viewer, job=job))
        # A fresh, empty form, out of band, for the next file.
        context = {**form_context(deployment), "project": project, "out_of_band": True}
        response.content += render_to_string(FORM_TEMPLATE, context, request).encode()
        return response
    messages.success(request, f"Adding captures to {deployment} started.")
    return redirect(job)


def _start(request: HtmxHttpRequest, deployment: Deployment, form: AddCapturesForm) -> Job | None:
    """Keep the file and queue its job; on a refusal, say why on the form and keep nothing."""
    same_work = Job.objects.of_type(ADD_CAPTURES_JOB).for_target(deployment)
    if (running := same_work.active().newest()) is not None:
        form.add_error(None, _busy(deployment, running))
        return None
    upload = form.cleaned_data["file"]
    max_rows = settings.CAPTURE_IMPORT_MAX_ROWS
    try:
        stored: StoredUpload
        if upload:
            stored = store_upload(
                upload,
                deployment.pk,
                max_bytes=settings.CAPTURE_IMPORT_MAX_BYTES,
                max_rows=max_rows,
            )
        else:
            stored = store_text(form.cleaned_data["rows"] + "\n", deployment.pk, max_rows=max_rows)
    except UploadRefused as refused:
        form.add_error("file" if upload else "rows", str(refused))
        return None
    name = upload.name if upload else "pasted rows"
    try:
        job, created = start(
            ADD_CAPTURES_JOB, deployment, request.user, params_for(stored, name, pasted=not upload)
        )
    except Exception:
        delete_upload(stored.name)
        raise
    if not created:
        # Another upload to this deployment won the race: its job runs, this file is not
        # added (two imports never interleave).
        delete_upload(stored.name)
        form.add_error(None, _busy(deployment, job))
        return None
    return job


def _busy(deployment: Deployment, job: Job) -> str:
    return (
        f"Captures are already being added to {deployment} (job #{job.pk}); this file was not "
        "added. Add it again when that job has finished."
    )


def _form_errors(
    request: HtmxHttpRequest, project: Project, deployment: Deployment, form: AddCapturesForm
) -> HttpResponse:
    if request.htmx:
        context = {**form_context(deployment, form), "project": project}
        response = render_to_string(FORM_TEMPLATE, context, request)
        return reswap(retarget(HttpResponse(response), f"#{form_id(deployment)}"), "outerHTML")
    return render_deployment_page(request, project, deployment, add_form=form, status=400)


@require_safe
@vary_on_headers("HX-Request")
@with_visible_project
def add_captures_progress(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    """The running card's poll (see views.polling); opened without htmx, the page."""
    deployment = get_object_or_404(project.deployments.defer("capture_nights"), pk=deployment_id)
    if not request.htmx:
        return redirect(deployment)
    job = project.jobs.of_type(ADD_CAPTURES_JOB).for_deployment(deployment).newest()
    if polling.unchanged(request, job):
        return polling.no_change()
    card = add_captures_card(deployment, Viewer(request.user, project), True, job)
    response = render_progress(request, card, card_id(deployment))
    if job is not None and not job.is_active:
        deployment.refresh_from_db()
        return with_deployment_stats(response, request, project, deployment)
    return response


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def add_captures_cancel(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    job = Job.objects.of_type(ADD_CAPTURES_JOB).for_target(deployment).active().newest()
    if job is not None:
        cancel_job(job, request.user)
    if request.htmx:
        return render_card(request, add_captures_card(deployment, Viewer(request.user, project)))
    if job is None:
        messages.info(request, "No captures are being added to this deployment.")
    else:
        messages.warning(request, "Cancel asked: adding captures stops at its next safe point.")
    return redirect(deployment)


@require_POST
@vary_on_headers("HX-Request")
@with_visible_project
def add_captures_retry(
    request: HtmxHttpRequest, project: Project, deployment_id: int
) -> HttpResponse:
    deployment = get_object_or_404(project.deployments, pk=deployment_id)
    require_manager(request.user, project)
    latest = Job.objects.of_type(ADD_CAPTURES_JOB).for_target(deployment).newest()
    notice = ""
    if latest is not None and latest.can_retry:
        try:
            latest, _ = retry_job(latest, request.user)
        except NothingToDo as nothing:
            notice = str(nothing)
    if request.htmx:
        return render_card(request, add_captures_card(deployment, Viewer(request.user, project)))
    if notice or latest is None:
        messages.info(request, notice or "There is nothing to retry: add a file.")
        return redirect(deployment)
    messages.success(request, f"Adding captures to {deployment} again.")
    return redirect(latest)
