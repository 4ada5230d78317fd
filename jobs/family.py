"""Parent jobs and their children: a parent (Regroup all) has a stage per child job, and its
status, progress and end follow its children's.

No worker runs a parent. Each child is an ordinary job sent to the workers on its own, so
several workers take a parent's children at once, and each child keeps what every job has:
its target's lock, heartbeats, the reaper, late acknowledgement, attempts. Whenever a child
changes (progress, an end, a cancel, a recovery, a retry), `settle` copies it into its stage
of the parent under the parent's row lock; once every stage has ended, so has the parent.
Only the parent's row is locked there, and after the child's own transaction, so a child
and its parent are never locked together in either order.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import ngettext

from .models import Job, JobLog
from .progress import JobProgress, StageProgress
from .status import FINAL_STATUSES, JobStatus

# The key of a parent's first stage: how many of its stages have ended.
OVERALL_STAGE = "overall"


def settle_parent_of(job: Job) -> None:
    """Bring `job`'s parent, if any, up to date with it once the transaction that changed
    `job` commits (at once outside a transaction).

    The parent is read from the row: a running job may have been joined by a parent since
    its worker loaded it (its log lines then go to that parent's log too).
    """
    job.parent_id = Job.objects.filter(pk=job.pk).values_list("parent_id", flat=True).first()
    parent_id = job.parent_id
    if parent_id is not None:
        transaction.on_commit(lambda: settle(parent_id))


def settle(parent_id: int) -> Job | None:
    """Copy each child's status and progress into its stage of the parent; end the parent
    when every stage has ended. A parent that has ended stays as it ended."""
    with transaction.atomic():
        parent = Job.objects.select_for_update().filter(pk=parent_id).first()
        if parent is None or parent.is_final:
            return parent
        progress = parent.stage_progress
        stages = [stage for stage in progress.stages if stage.key != OVERALL_STAGE]
        children = Job.objects.in_bulk([stage.job_id for stage in stages if stage.job_id])
        for stage in stages:
            _follow(stage, children.get(stage.job_id) if stage.job_id else None)
        ended = all(stage.status in FINAL_STATUSES for stage in stages)
        status = _outcome(parent.status, stages) if ended else parent.status
        progress.stages = [_overall(stages, status), *stages]
        parent.progress = progress.as_json()
        if not ended:
            # Progress only: the parent's updated_at marks its last change of status, which
            # its watchers' polling backs off from (jobs.polls).
            Job.objects.filter(pk=parent.pk).update(progress=parent.progress)
            return parent
        now = timezone.now()
        counts = _counts(stages)
        parent.status = status
        parent.finished_at = now
        parent.heartbeat_at = now
        parent.result = {"stages": len(stages), **counts}
        parent.save(
            update_fields=[
                "status",
                "progress",
                "result",
                "finished_at",
                "heartbeat_at",
                "updated_at",
            ]
        )
        level = JobLog.Level.INFO if status == JobStatus.SUCCESS else JobLog.Level.WARNING
        parent.log(_ending(stages, counts), level)
    return parent


def _follow(stage: StageProgress, child: Job | None) -> None:
    if child is None:
        if stage.job_id and stage.status not in FINAL_STATUSES:
            # The child was deleted (its deployment with it): the stage can't finish.
            stage.status = JobStatus.FAILURE
        return
    stage.status = child.status
    shown = JobProgress.from_json(child.progress).stages
    if shown:
        current = shown[-1]
        stage.unit = current.unit
        stage.done, stage.total = current.done, current.total
        stage.eta_seconds = current.eta_seconds if child.status == JobStatus.STARTED else None
        stage.stats = current.stats


def _overall(stages: list[StageProgress], status: str) -> StageProgress:
    # Named for the one parent type there is (Regroup all), whose stages are deployments.
    counts = _counts(stages)
    return StageProgress(
        key=OVERALL_STAGE,
        name="All deployments",
        unit="deployments",
        status=status,
        done=sum(counts.values()),
        total=len(stages),
        stats={label: number for label, number in counts.items() if number},
    )


def _counts(stages: list[StageProgress]) -> dict[str, int]:
    """How many stages ended each way, labelled for people."""
    labels = {
        JobStatus.SUCCESS: "Succeeded",
        JobStatus.FAILURE: "Failed",
        JobStatus.REVOKED: "Cancelled",
    }
    return {
        label: sum(stage.status == status for stage in stages) for status, label in labels.items()
    }


def _outcome(status: str, stages: list[StageProgress]) -> str:
    """How a parent whose stages have all ended ends: cancelled if a cancel was asked of it,
    else failed if a stage failed, cancelled if one was cancelled, else succeeded."""
    if status == JobStatus.CANCELLING:
        return JobStatus.REVOKED
    for outcome in (JobStatus.FAILURE, JobStatus.REVOKED):
        if any(stage.status == outcome for stage in stages):
            return outcome
    return JobStatus.SUCCESS


def _ending(stages: list[StageProgress], counts: dict[str, int]) -> str:
    unfinished = len(stages) - counts["Succeeded"]
    if not unfinished:
        return ngettext(
            "Finished: its {number} stage succeeded.",
            "Finished: all {number} stages succeeded.",
            len(stages),
        ).format(number=f"{len(stages):,}")
    summary = ", ".join(f"{label.lower()} {number:,}" for label, number in counts.items())
    return f"Ended ({summary}). " + ngettext(
        "Retry runs only the stage that did not succeed.",
        "Retry runs only the {number} stages that did not succeed.",
        unfinished,
    ).format(number=f"{unfinished:,}")
