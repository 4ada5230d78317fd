"""Job type: add an uploaded file of captures to a deployment, and group them (wraps
monitoring.capture_import: Check, Import, Group sessions, Refresh counts).

The job's params hold the stored file and the checkpoint its runs keep (so Retry and a
recovery go on where the last run stopped); a file with bad rows is marked rejected, with
its first bad rows, and is not run again: a corrected file is a new job.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.translation import ngettext

from monitoring.capture_import import (
    STAGES,
    AddCaptures,
    AddCapturesFailed,
    AddCapturesStopped,
)
from monitoring.capture_uploads import (
    StoredUpload,
    delete_upload,
    open_upload,
    upload_exists,
)
from monitoring.importing import megabytes
from monitoring.models import Deployment

from .job_type import JobContext, JobError, JobStopped, JobType, NothingToDo
from .models import Job, JobLog

ADD_CAPTURES_JOB = "add_captures"
# Bad rows the job keeps in its params and log, word for word (the card shows fewer).
PROBLEMS_LOGGED = 200
REJECTED_FILE = (
    "This file has rows that can't be added: Retry would check the same file. Fix the rows "
    "listed and add the file again."
)
REJECTED_ROWS = (
    "These rows can't all be added: Retry would check the same rows. Fix the rows listed and "
    "paste them again."
)
FILE_GONE = "The uploaded file is no longer kept; add it again."


def params_for(upload: StoredUpload, file_name: str, pasted: bool = False) -> dict[str, Any]:
    """A new job's params: the stored file, what people called it, and whether its rows were
    pasted into the page rather than a file."""
    return {
        "file": upload.name,
        "file_name": file_name,
        "size": upload.size,
        "lines": upload.lines,
        "pasted": pasted,
    }


def run(context: JobContext) -> dict[str, Any]:
    job = context.job
    deployment = job.deployment
    if deployment is None:
        raise JobError("The deployment of this job no longer exists.")
    params = job.params
    name = params.get("file") or ""
    if not name or not upload_exists(name):
        raise JobError(FILE_GONE)
    stages = {key: context.progress.add_stage(key, title, unit) for key, title, unit in STAGES}
    context.log(f"Adding captures from {params.get('file_name') or 'a file'} to {deployment}.")

    def save_checkpoint(checkpoint: dict[str, Any]) -> None:
        _save_params(job, checkpoint=checkpoint)

    adding = AddCaptures(
        deployment=deployment,
        open_file=lambda: open_upload(name),
        stages=stages,
        log=context.log,
        should_stop=context.should_stop,
        chunk_rows=settings.CAPTURE_IMPORT_CHUNK_ROWS,
        checkpoint=dict(params.get("checkpoint") or {}),
        save_checkpoint=save_checkpoint,
        max_bytes=settings.CAPTURE_IMPORT_MAX_BYTES,
        max_rows=settings.CAPTURE_IMPORT_MAX_ROWS,
        lines=params.get("lines"),
        pasted=bool(params.get("pasted")),
    )
    try:
        result = adding.run()
    except AddCapturesStopped as stopped:
        raise JobStopped(str(stopped)) from None
    except AddCapturesFailed as failed:
        if failed.rejected:
            _reject(job, failed)
        raise JobError(str(failed)) from None
    _forget_file(context, name)
    return result.as_json()


def _reject(job: Job, failed: AddCapturesFailed) -> None:
    """Keep the first bad rows for the card and the log; the file itself is of no more use."""
    problems = failed.problems[:PROBLEMS_LOGGED]
    _save_params(job, rejected=True, problems=problems, problem_count=failed.problem_count)
    if problems:
        more = failed.problem_count - len(problems)
        job.log(
            "\n".join([*problems, *([f"… and {more:,} more."] if more else [])]),
            JobLog.Level.ERROR,
        )
    delete_upload(job.params["file"])


def _forget_file(context: JobContext, name: str) -> None:
    try:
        delete_upload(name)
    except OSError as error:  # the captures are in; a file left behind is only litter
        context.log(f"Could not delete the uploaded file: {error}", JobLog.Level.WARNING)


def _save_params(job: Job, **changes: Any) -> None:
    job.params = {**job.params, **changes}
    # Only this column: a concurrent cancel must not be overwritten.
    Job.objects.filter(pk=job.pk).update(params=job.params)


def is_rejected(params: dict[str, Any]) -> bool:
    return bool(params.get("rejected"))


def rejected_in_words(params: dict[str, Any]) -> str:
    """Why Retry is refused for a job whose rows are bad."""
    return REJECTED_ROWS if params.get("pasted") else REJECTED_FILE


def refuse_rejected_file(deployment: Deployment, params: dict[str, Any]) -> None:
    """Retry of a job whose file has bad rows would fail the same way: queue nothing."""
    if is_rejected(params):
        raise NothingToDo(rejected_in_words(params))


def describe(job: Job) -> str:
    return f"Add captures to {job.deployment}"


def describe_params(params: dict[str, Any]) -> list[str]:
    if not params.get("file_name"):
        return []
    lines = params.get("lines") or 0
    size = megabytes(params.get("size") or 0)
    in_lines = ngettext("%(count)s line", "%(count)s lines", lines) % {"count": intcomma(lines)}
    return [f"File: {params['file_name']} ({size}, {in_lines})"]


JOB_TYPE = JobType(
    key=ADD_CAPTURES_JOB,
    name="Add captures",
    target=Deployment,
    run=run,
    describe=describe,
    check=refuse_rejected_file,
    describe_params=describe_params,
)
