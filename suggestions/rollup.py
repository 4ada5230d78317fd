"""The project page's rollup of deployments with ungrouped captures, each row with its regroup."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.models import REGROUP_JOB, Job
from jobs.presenters import JobView, StageView, present
from monitoring.models import Deployment

from .ungrouped_captures import UNGROUPED_CAPTURES


@dataclass(frozen=True)
class RollupRow:
    deployment: Deployment
    regroup: JobView | None  # its active regroup, if any

    @property
    def progress(self) -> StageView | None:
        """The regroup's bar, from "0 of N captures" until its worker has counted."""
        counted = self.regroup.counted_stage if self.regroup else None
        return counted or UNGROUPED_CAPTURES.initial_progress(
            self.deployment.source_images_without_event_count
        )


def rollup_rows(deployments: list[Deployment]) -> list[RollupRow]:
    """A row for each deployment, with all their active regroups read in one query."""
    active = Job.objects.of_type(REGROUP_JOB).active().by_target(deployments)
    return [_row(deployment, active.get(deployment.pk)) for deployment in deployments]


def rollup_row_of(deployment: Deployment) -> RollupRow:
    active = Job.objects.of_type(REGROUP_JOB).for_target(deployment).active().newest()
    return _row(deployment, active)


def _row(deployment: Deployment, job: Job | None) -> RollupRow:
    return RollupRow(deployment, present(job) if job else None)
