"""Job type: regroup several deployments of a project at once (Regroup all).

A parent job (jobs/family.py) whose stages are the deployments: each stage is an ordinary
regroup job of its deployment, sent to the workers on its own, so as many workers as there
are regroup that many deployments at a time, each under its deployment's lock. A deployment
already regrouping (from its card) is joined, not regrouped twice. Retry re-runs only the
stages that did not succeed. Which deployments, and which need a full regroup, is the
caller's to decide (`plan_params`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import ngettext

from monitoring.models import Deployment, Project

from .family import settle
from .job_type import JobType, NothingToDo
from .models import REGROUP_ALL_JOB, REGROUP_JOB, Job
from .progress import StageProgress
from .regroup import FULL_PARAM
from .status import JobStatus

# The job param listing the deployments to regroup: [{"deployment": id, "full": bool}, ...]
DEPLOYMENTS_PARAM = "deployments"
NOTHING_TO_REGROUP = "Nothing to regroup: no deployment of this project needs it."


def plan_params(plan: Iterable[tuple[Deployment, bool]]) -> dict[str, Any]:
    """The params of a Regroup all of these deployments, each with whether it needs a full
    regroup, in the order given."""
    return {
        DEPLOYMENTS_PARAM: [
            {"deployment": deployment.pk, "full": full} for deployment, full in plan
        ]
    }


def planned(params: dict[str, Any]) -> list[tuple[int, bool]]:
    return [
        (int(entry["deployment"]), bool(entry.get("full")))
        for entry in params.get(DEPLOYMENTS_PARAM) or []
    ]


def require_deployments(project: Project, params: dict[str, Any]) -> None:
    """Raise ValueError, and queue nothing, when a listed deployment is another project's;
    NothingToDo when none of the project's is listed (any more: a retry skips deployments
    deleted since)."""
    ids = {deployment_id for deployment_id, _ in planned(params)}
    elsewhere = Deployment.objects.filter(pk__in=ids).exclude(project=project)
    if elsewhere.exists():
        raise ValueError(f"Not deployments of {project}: {', '.join(map(str, elsewhere))}.")
    if not project.deployments.filter(pk__in=ids).exists():
        raise NothingToDo(NOTHING_TO_REGROUP)


def stage_key(deployment_id: int) -> str:
    return f"deployment-{deployment_id}"


def fan_out(parent: Job, user: AbstractBaseUser | None) -> None:
    """Give each deployment that has not yet succeeded a regroup job (a new one, a retry of
    its stage's last, or the one already running), as a child of `parent`, and mark the
    parent running. In the transaction that queues the parent; children go to the workers
    when it commits."""
    previous = {stage.key: stage for stage in parent.stage_progress.stages}
    plan = planned(parent.params)
    deployments = parent.project.deployments.in_bulk([deployment_id for deployment_id, _ in plan])
    stages = []
    for deployment_id, full in plan:
        deployment = deployments.get(deployment_id)
        if deployment is None:  # deleted since the job was first queued: nothing to do
            continue
        stage = previous.get(stage_key(deployment_id)) or StageProgress(
            key=stage_key(deployment_id), name=deployment.name, unit="captures"
        )
        if stage.status != JobStatus.SUCCESS:
            _start_stage(parent, stage, deployment, full, user)
        stages.append(stage)
    now = timezone.now()
    parent.progress = {"stages": [stage.as_json() for stage in stages]}
    parent.status = JobStatus.STARTED
    parent.started_at = now
    parent.heartbeat_at = now
    parent.save(update_fields=["progress", "status", "started_at", "heartbeat_at", "updated_at"])
    settle(parent.pk)


def _start_stage(
    parent: Job, stage: StageProgress, deployment: Deployment, full: bool, user
) -> None:
    from . import actions  # which imports the registry, which lists this type

    last = Job.objects.filter(pk=stage.job_id).first() if stage.job_id else None
    try:
        if last is not None and last.can_retry:
            child, queued = actions.retry_job(last, user)
        else:
            params = {FULL_PARAM: True} if full else {}
            child, queued = actions.start(REGROUP_JOB, deployment, user, params=params)
    except NothingToDo as nothing:
        stage.status = JobStatus.SUCCESS
        stage.stats = {}
        parent.log(f"{deployment}: {nothing}")
        return
    stage.job_id = child.pk
    stage.status = child.status
    # The latest parent takes the child over: any earlier parent has ended (one active
    # Regroup all per project, and a parent ends only once its children have).
    Job.objects.filter(pk=child.pk).update(parent=parent)
    if queued:
        parent.log(f"{deployment}: queued as job #{child.pk}.")
    else:
        parent.log(f"{deployment}: already regrouping in job #{child.pk}; following it.")


def describe(job: Job) -> str:
    count = len(planned(job.params))
    return ngettext("Regroup {number} deployment", "Regroup {number} deployments", count).format(
        number=f"{count:,}"
    )


JOB_TYPE = JobType(
    key=REGROUP_ALL_JOB,
    name="Regroup all",
    target=Project,
    run=None,
    describe=describe,
    check=require_deployments,
    fan_out=fan_out,
)
