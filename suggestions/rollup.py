"""The project page's rollup of deployments that need a regroup (ungrouped captures, sessions
out of date, or both), each row with its regroup: what the deployments' cards say, for the
whole project in a constant number of queries; and Regroup all, which regroups them in one
job."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.models import REGROUP_ALL_JOB, REGROUP_JOB, Job
from jobs.presenters import JobView, StageView, present
from jobs.regroup import asks_for_full
from monitoring.models import Deployment, Project
from monitoring.staleness import Staleness, deployment_staleness

from .sessions_out_of_date import deployments_needing_regroup
from .ungrouped_captures import UNGROUPED_CAPTURES


@dataclass(frozen=True)
class RollupRow:
    deployment: Deployment
    regroup: JobView | None  # its active regroup, if any
    # What is out of date in its sessions (None: nothing, or not asked while it regroups).
    staleness: Staleness | None = None

    @property
    def needs_regroup(self) -> bool:
        return bool(self.deployment.source_images_without_event_count or self.staleness)

    @property
    def out_of_date(self) -> bool:
        """Its sessions are out of date, or a full regroup is redrawing them (which clears
        the record that tells)."""
        running_full = self.regroup is not None and asks_for_full(self.regroup.job.params)
        return bool(self.staleness) or running_full

    @property
    def progress(self) -> StageView | None:
        """The regroup's bar, from "0 of N captures" until its worker has counted (a full
        regroup's total is all the captures: it waits for the worker's)."""
        counted = self.regroup.counted_stage if self.regroup else None
        if counted or (self.regroup and asks_for_full(self.regroup.job.params)):
            return counted
        return UNGROUPED_CAPTURES.initial_progress(
            self.deployment.source_images_without_event_count
        )


@dataclass(frozen=True)
class ProjectRollup:
    deployments_total: int
    rows: list[RollupRow]  # those that need a regroup, most ungrouped captures first

    @property
    def deployments(self) -> list[Deployment]:
        return [row.deployment for row in self.rows]

    @property
    def captures(self) -> int:
        """Captures without a session in all of them."""
        return sum(row.deployment.source_images_without_event_count for row in self.rows)

    @property
    def out_of_date(self) -> int:
        """How many of them have sessions out of date (or being redrawn)."""
        return sum(1 for row in self.rows if row.out_of_date)


def project_rollup(project: Project) -> ProjectRollup:
    """The rollup: the deployments needing a regroup or regrouping now, with their active
    regroups (five queries, whatever the number of deployments)."""
    # At most one active regroup per deployment (a database constraint).
    active = {job.deployment_id: job for job in project.jobs.of_type(REGROUP_JOB).active()}
    needs = deployments_needing_regroup(project, regrouping=active.keys())
    rows = [_row(need.deployment, active.get(need.deployment.pk), need.staleness) for need in needs]
    return ProjectRollup(deployments_total=project.deployments.count(), rows=rows)


def rollup_row_of(deployment: Deployment) -> RollupRow:
    """One deployment's row; its sessions are checked only once no regroup of it runs."""
    active = Job.objects.of_type(REGROUP_JOB).for_target(deployment).active().newest()
    staleness = None if active else deployment_staleness(deployment) or None
    return _row(deployment, active, staleness)


def _row(deployment: Deployment, job: Job | None, staleness: Staleness | None) -> RollupRow:
    return RollupRow(deployment, present(job) if job else None, staleness)


@dataclass(frozen=True)
class RegroupAll:
    """The rollup's Regroup all: the project's job, while it runs or just after it ended,
    and how many deployments a new one would regroup."""

    job: JobView | None
    deployments: int

    @property
    def offered(self) -> bool:
        """Whether to offer a new one: one job per deployment is the rows' own Regroup."""
        return self.job is None and self.deployments > 1


def regroup_all_plan(project: Project) -> list[tuple[Deployment, bool]]:
    """The deployments Regroup all regroups, each with whether it needs a full regroup."""
    return [(need.deployment, need.full) for need in deployments_needing_regroup(project)]


def regroup_all_of(project: Project, deployments: int, just_finished: bool = False) -> RegroupAll:
    """The rollup's Regroup all, `deployments` needing it. `just_finished` asks for the job
    that a watcher saw running even once it has ended, so that it can say how it ended."""
    jobs = Job.objects.of_type(REGROUP_ALL_JOB).for_target(project)
    job = jobs.newest() if just_finished else jobs.active().newest()
    return RegroupAll(present(job) if job else None, deployments)
