"""Job type: regroup one deployment's captures into sessions (wraps monitoring.grouping)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from monitoring.grouping import RegroupError, regroup_deployment
from monitoring.locks import DeploymentBusy
from monitoring.models import Deployment, SourceImage

from .job_type import JobContext, JobError, JobStopped, JobType, NothingToDo
from .models import REGROUP_JOB, Job, JobLog, JobStatus

NOTHING_TO_REGROUP = "Nothing to regroup: every capture with a timestamp is in a session."


def run(context: JobContext) -> dict[str, Any]:
    deployment = context.job.deployment
    if deployment is None:
        raise JobError("The deployment of this job no longer exists.")
    stage = context.progress.add_stage("regroup", "Group captures into sessions", "captures")
    context.log(
        f"Regrouping {deployment}: {deployment.source_images_without_event_count:,} captures "
        "without a session when the job was started."
    )
    stage.start()
    try:
        summary = regroup_deployment(
            deployment, progress=stage.update, should_stop=context.should_stop
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
    stage.set_stats(
        **{
            "Captures grouped": summary.captures_grouped,
            "Sessions created": summary.sessions_created,
            "Sessions updated": summary.sessions_updated,
            "Sessions deleted": summary.sessions_deleted,
            "Occurrences re-linked": summary.occurrences_relinked,
            "Captures without timestamp": summary.captures_without_timestamp,
        }
    )
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


def describe(job: Job) -> str:
    return f"Regroup sessions of {job.deployment}"


def require_ungrouped_captures(deployment: Deployment) -> None:
    """Raise NothingToDo unless some capture with a timestamp has no session.

    Asks the captures themselves (the small index of captures without a session), not the
    stored count, which a raw sync leaves behind; if the stored count claims captures that
    are no longer there, it is brought up to date so the page says what is true.
    """
    ungrouped = SourceImage.objects.filter(
        deployment=deployment, event__isnull=True, timestamp__isnull=False
    )
    if ungrouped.exists():
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
)
