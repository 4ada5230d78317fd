"""Regroup one deployment: plan what the rules want, then write it, under the deployment's
lock so two regroups of one deployment never interleave.

Incremental when the deployment's sessions were drawn under the settings in force (the
gap and the rules' version, recorded by the last regroup that finished): only the windows
around what changed since are read and redrawn, and when nothing changed, nothing is.
Full otherwise, or when asked: every dated capture is read and redrawn, which also checks
what an incremental regroup trusts.
"""

from __future__ import annotations

import logging

from ..locks import deployment_lock
from ..models import Deployment
from .apply import ProgressCallback, RegroupMode, RegroupSummary, StopCheck, apply_plan
from .plan import read_changed_plan, read_plan
from .rules import RULES_VERSION, session_gap

logger = logging.getLogger(__name__)


class RegroupError(Exception):
    """The deployment can't be regrouped as asked (a message for people)."""


def regroup_deployment(
    deployment: Deployment,
    *,
    gap_seconds: int | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> RegroupSummary:
    """Regroup one deployment's captures into sessions and return what changed.

    `full` redraws every dated capture even when an incremental regroup would do.
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
        # What the last regroup to finish recorded, read now that no other one runs.
        deployment.refresh_from_db(fields=["sessions_gap_seconds", "sessions_rules_version"])
        because = "it was asked for" if full else why_full(deployment, gap)
        if because:
            summary.mode, summary.full_because = RegroupMode.FULL, because
            plan = read_plan(deployment, gap)
        else:
            summary.mode = RegroupMode.INCREMENTAL
            plan = read_changed_plan(deployment, gap)
            if plan is None:
                _nothing_changed(deployment, summary, progress)
                return summary
        apply_plan(deployment, plan, summary, progress, should_stop)
    return summary


def why_full(deployment: Deployment, gap_seconds: int) -> str:
    """Why a regroup under `gap_seconds` must redraw everything, or "" if it need not."""
    if deployment.sessions_gap_seconds is None or deployment.sessions_rules_version is None:
        return "the settings its sessions were drawn under aren't on record"
    if deployment.sessions_rules_version != RULES_VERSION:
        return "its sessions were drawn by an older version of the grouping rules"
    if deployment.sessions_gap_seconds != gap_seconds:
        return (
            f"its sessions were drawn with a gap of {deployment.sessions_gap_seconds:,} "
            f"seconds, not {gap_seconds:,}"
        )
    return ""


def _nothing_changed(
    deployment: Deployment, summary: RegroupSummary, progress: ProgressCallback | None
) -> None:
    """Answer from the stored counts: every session is as drawn and every dated capture in
    one. Only a stored count of ungrouped captures that says otherwise is recounted."""
    if deployment.source_images_without_event_count:
        deployment.update_calculated_fields(save=True, from_sessions=True)
    summary.sessions_total = deployment.events_count
    summary.captures_without_timestamp = deployment.source_images_without_timestamp_count
    if progress is not None:
        progress(0, 0)
