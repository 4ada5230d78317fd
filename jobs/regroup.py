"""Job type: regroup one deployment's captures into sessions (wraps monitoring.grouping)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.utils.translation import ngettext

from monitoring.grouping import (
    RegroupError,
    RegroupMode,
    RegroupSummary,
    regroup_deployment,
    ungrouped_captures,
)
from monitoring.locks import DeploymentBusy
from monitoring.models import Deployment

from .job_type import JobContext, JobError, JobStopped, JobType, NothingToDo
from .models import REGROUP_JOB, Job, JobLog, JobStatus

NOTHING_TO_REGROUP = "Nothing to regroup: every capture with a timestamp is in a session."
# The job param that asks for a full regroup.
FULL_PARAM = "full"


def run(context: JobContext) -> dict[str, Any]:
    deployment = context.job.deployment
    if deployment is None:
        raise JobError("The deployment of this job no longer exists.")
    full = asks_for_full(context.job.params)
    stage = context.progress.add_stage("regroup", "Group captures into sessions", "captures")
    ungrouped = deployment.source_images_without_event_count
    context.log(
        ("Checking every night of " if full else "Regrouping ")
        + f"{deployment}: "
        + ngettext(
            "{number} capture without a session when the job was started.",
            "{number} captures without a session when the job was started.",
            ungrouped,
        ).format(number=f"{ungrouped:,}")
    )
    stage.start()
    try:
        summary = regroup_deployment(
            deployment, full=full, progress=stage.update, should_stop=context.should_stop
        )
    except DeploymentBusy:
        raise JobError(
            "Another regroup of this deployment is running (perhaps from the command line); "
            "retry when it has finished."
        ) from None
    except RegroupError as error:
        raise JobError(str(error)) from None
    for warning in summary.warnings:
        context.log(warning, JobLog.Level.WARNING)
    context.log(mode_line(summary))
    stage.set_stats(**summary.stats())
    if summary.stopped:
        stage.finish(status=JobStatus.REVOKED)
        raise JobStopped(
            f"Stopped at a safe point after grouping {summary.captures_grouped:,} of "
            f"{summary.captures_to_group:,} captures. Every capture is in a valid session or "
            "in none; Retry completes the work."
        )
    stage.finish()
    context.log(
        f"Grouped {summary.captures_grouped:,} captures: {summary.sessions_created:,} sessions "
        f"created, {summary.sessions_updated:,} updated, {summary.sessions_deleted:,} deleted; "
        f"{summary.occurrences_relinked:,} occurrences re-linked. {deployment} now has "
        f"{summary.sessions_total:,} sessions."
    )
    return asdict(summary)


def mode_line(summary: RegroupSummary) -> str:
    """Which way the regroup ran and what it read, for the job's log."""
    read = ngettext("{number} capture", "{number} captures", summary.captures_read).format(
        number=f"{summary.captures_read:,}"
    )
    if summary.mode == RegroupMode.FULL:
        return f"Full regroup, every night checked ({summary.full_because}): read {read}."
    if not summary.captures_read and summary.wrote_nothing:
        return (
            "Incremental regroup: nothing had changed since the sessions were drawn, "
            "so no capture was read."
        )
    return f"Incremental regroup: read {read}, around what changed since the sessions were drawn."


def asks_for_full(params: dict[str, Any]) -> bool:
    """Whether a regroup job redraws every night (its "Check every night" option)."""
    return bool(params.get(FULL_PARAM))


def describe_params(params: dict[str, Any]) -> list[str]:
    if asks_for_full(params):
        return ["Every night: every session redrawn, not only around what changed"]
    return []


def describe(job: Job) -> str:
    if asks_for_full(job.params):
        return f"Regroup every night of {job.deployment}"
    return f"Regroup sessions of {job.deployment}"


def require_ungrouped_captures(deployment: Deployment, params: dict[str, Any]) -> None:
    """Raise NothingToDo unless some capture with a timestamp has no session, or every night
    is to be checked (which may always find something).

    Asks the captures themselves (the small index of captures without a session), not the
    stored count, which a raw sync leaves behind; if the stored count claims captures that
    are no longer there, it is brought up to date so the page says what is true.
    """
    if asks_for_full(params) or ungrouped_captures(deployment).exists():
        return
    if deployment.source_images_without_event_count:
        deployment.update_calculated_fields()
    raise NothingToDo(NOTHING_TO_REGROUP)


JOB_TYPE = JobType(
    key=REGROUP_JOB,
    name="Regroup sessions",
    target=Deployment,
    run=run,
    describe=describe,
    check=require_ungrouped_captures,
    describe_params=describe_params,
)
