"""A project's session gap as its managers change it, and which deployments a gap affects.

Changing the gap regroups nothing: every deployment whose sessions were drawn under another
gap is then out of date (monitoring.staleness) until it is regrouped. The settings page
lists those, from the gap each deployment recorded at its last regroup.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from .models import Deployment, Project
from .staleness import project_gap_seconds

MIN_GAP_SECONDS = 60
MAX_GAP_SECONDS = int(timedelta(hours=24).total_seconds())


class GapOutOfRange(ValueError):
    """A session gap shorter than a minute or longer than 24 hours."""


def change_session_gap(project: Project, seconds: int, user: AbstractBaseUser) -> bool:
    """Set the project's session gap, recording who changed it and when; return whether it
    changed (the same gap again records nothing). Raises GapOutOfRange, saving nothing,
    outside 1 minute to 24 hours."""
    if not MIN_GAP_SECONDS <= seconds <= MAX_GAP_SECONDS:
        raise GapOutOfRange(
            f"A session gap must be between {MIN_GAP_SECONDS} and {MAX_GAP_SECONDS} seconds."
        )
    if project.session_time_gap_seconds == seconds:
        return False
    project.session_time_gap_seconds = seconds
    project.session_gap_changed_by = user
    project.session_gap_changed_at = timezone.now()
    project.save(
        update_fields=[
            "session_time_gap_seconds",
            "session_gap_changed_by",
            "session_gap_changed_at",
            "updated_at",
        ]
    )
    return True


def deployments_drawn_under_another_gap(project: Project) -> QuerySet[Deployment]:
    """Deployments with sessions drawn under a gap other than the project's: those a regroup
    would redraw because of the gap (one query, by name)."""
    return (
        project.deployments.filter(events_count__gt=0, sessions_gap_seconds__isnull=False)
        .exclude(sessions_gap_seconds=project_gap_seconds(project))
        .defer("capture_nights")
        .order_by("name", "pk")
    )


def deployments_with_unknown_gap(project: Project) -> int:
    """How many deployments have sessions but no record of their gap (not regrouped since
    deployments kept one): a gap change may or may not concern them."""
    return project.deployments.filter(events_count__gt=0, sessions_gap_seconds__isnull=True).count()
