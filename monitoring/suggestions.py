"""Suggested actions: what a card tells a user and what it lets them do.

Small providers turn a target's stored counts into a Suggestion; one card partial draws
every suggestion, so the capture set's "empty — Populate" card and the deployment's
"ungrouped — Regroup" card are the same component. Providers read stored counts and make a
few small indexed queries (the latest job, the user's dismissal); they never count captures.
The wording lives in the card's template, chosen by the suggestion's `key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from jobs.models import POPULATE_JOB, REGROUP_JOB, Job, JobStatus

from .models import (
    Deployment,
    ProjectMembership,
    SourceImageCollection,
    SuggestionDismissal,
)
from .permissions import can_manage

UNGROUPED_CAPTURES = "ungrouped-captures"
EMPTY_CAPTURE_SET = "empty-capture-set"


class CardState(StrEnum):
    NEEDS_ACTION = "needs-action"
    RUNNING = "running"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DONE = "done"


@dataclass
class Suggestion:
    key: str
    target: Deployment | SourceImageCollection
    count: int
    state: CardState
    can_act: bool
    job: Job | None = None
    managers: list[str] = field(default_factory=list)
    # The user hid this card: a one-line "hidden suggestion · Show" takes its place.
    dismissed: bool = False
    # The user looking at a cancelled card is the one who cancelled it.
    cancelled_by_user: bool = False


User = AbstractBaseUser | AnonymousUser


def ungrouped_captures(
    deployment: Deployment, user: User, just_finished: bool = False
) -> Suggestion | None:
    """The deployment's "captures aren't grouped" card, or None when there is nothing to say.

    `just_finished` asks for the brief confirmation shown when a followed job has ended
    and nothing is left; on a fresh page load there is no card then.
    """
    count = deployment.source_images_without_event_count
    job = Job.objects.of_type(REGROUP_JOB).for_target(deployment).newest()
    state = _state(count, job, just_finished)
    if state is None:
        return None
    suggestion = _suggestion(UNGROUPED_CAPTURES, deployment, count, state, job, user)
    suggestion.dismissed = _dismissed(user, UNGROUPED_CAPTURES, deployment.pk, count, state)
    return suggestion


def empty_capture_set(
    collection: SourceImageCollection, user: User, job: Job | None, just_finished: bool = False
) -> Suggestion | None:
    """The capture set's "empty — Populate" card. `job` is its latest populate job, which
    the caller fetches for a whole page of capture sets in one query."""
    # The "count" of an empty set is the one thing missing: its captures.
    missing = 0 if collection.source_images_count else 1
    state = _state(missing, job, just_finished)
    if state is None:
        return None
    return _suggestion(EMPTY_CAPTURE_SET, collection, missing, state, job, user)


def latest_populate_jobs(collections: list[SourceImageCollection]) -> dict[int, Job]:
    """The latest populate job of each capture set, in one query."""
    return Job.objects.of_type(POPULATE_JOB).by_target(collections)


def dismiss(user: User, key: str, object_id: int, count: int) -> None:
    """Hide a card for this user until its count grows past `count`.

    A count of zero has nothing to hide (and a dismissal must never outlive the problem).
    """
    if count <= 0:
        return
    SuggestionDismissal.objects.update_or_create(
        user=user, key=key, object_id=object_id, defaults={"dismissed_count": count}
    )


def undismiss(user: User, key: str, object_id: int) -> None:
    """Show a hidden card again, for this user."""
    SuggestionDismissal.objects.filter(user=user, key=key, object_id=object_id).delete()


def follow_ungrouped_count(deployment: Deployment) -> None:
    """Keep dismissals of a deployment's card in step with its freshly stored count.

    At zero the problem is over, so every dismissal of it ends: captures synced later are
    news again. A smaller count lowers the dismissed one, so the card comes back as soon as
    the number grows from wherever it went (not only past the number first hidden).
    Called whenever the stored count changes.
    """
    count = deployment.source_images_without_event_count
    dismissals = SuggestionDismissal.objects.filter(key=UNGROUPED_CAPTURES, object_id=deployment.pk)
    if count == 0:
        dismissals.delete()
    else:
        dismissals.filter(dismissed_count__gt=count).update(dismissed_count=count)


def _state(count: int, job: Job | None, just_finished: bool) -> CardState | None:
    if job is not None and job.is_active:
        return CardState.RUNNING
    if count == 0:
        return CardState.DONE if just_finished else None
    if job is not None and job.status == JobStatus.FAILURE:
        return CardState.FAILED
    if job is not None and job.status == JobStatus.REVOKED:
        return CardState.CANCELLED
    return CardState.NEEDS_ACTION


def _dismissed(user: User, key: str, object_id: int, count: int, state: CardState) -> bool:
    if not user.is_authenticated or state in (CardState.RUNNING, CardState.DONE):
        return False
    return SuggestionDismissal.objects.filter(
        user=user, key=key, object_id=object_id, dismissed_count__gte=count
    ).exists()


def _suggestion(
    key: str,
    target: Deployment | SourceImageCollection,
    count: int,
    state: CardState,
    job: Job | None,
    user: User,
) -> Suggestion:
    allowed = can_manage(user, target.project)
    managers = [] if allowed else manager_names(target.project_id)
    suggestion = Suggestion(key, target, count, state, allowed, job, managers)
    if state == CardState.CANCELLED and job is not None:
        suggestion.cancelled_by_user = _cancelled_by(job, user)
    return suggestion


def _cancelled_by(job: Job, user: User) -> bool:
    """Whether `user` asked the job's latest run to stop."""
    return user.is_authenticated and job.cancelled_by_id == user.pk


def manager_names(project_id: int) -> list[str]:
    """Who to ask, for members who can't act themselves (a few names)."""
    return list(
        ProjectMembership.objects.filter(
            project_id=project_id, role=ProjectMembership.Role.PROJECT_MANAGER
        )
        .order_by("user__username")
        .values_list("user__username", flat=True)[:3]
    )
