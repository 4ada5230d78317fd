"""Regroup one deployment: plan what the rules want, then write it, under the deployment's
lock so two regroups of one deployment never interleave."""

from __future__ import annotations

import logging

from ..locks import deployment_lock
from ..models import Deployment
from .apply import ProgressCallback, RegroupSummary, StopCheck, apply_plan
from .plan import read_plan
from .rules import session_gap

logger = logging.getLogger(__name__)


class RegroupError(Exception):
    """The deployment can't be regrouped as asked (a message for people)."""


def regroup_deployment(
    deployment: Deployment,
    *,
    gap_seconds: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> RegroupSummary:
    """Regroup one deployment's captures into sessions and return what changed.

    Raises RegroupError if the deployment has no project, and locks.DeploymentBusy if
    another regroup of the same deployment is running.
    """
    if deployment.project_id is None:
        raise RegroupError(f"Deployment {deployment.pk} belongs to no project.")
    gap, warning = session_gap(deployment.project.session_time_gap_seconds, gap_seconds)
    summary = RegroupSummary(deployment_id=deployment.pk, gap_seconds=gap)
    if warning:
        logger.warning("Deployment %s: %s", deployment.pk, warning)
        summary.warnings.append(warning)

    with deployment_lock(deployment.pk):
        apply_plan(deployment, read_plan(deployment, gap), summary, progress, should_stop)
    return summary
