"""What every suggestion shares: its kind (the texts), its state, who is looking, and the card
state machine. A kind of suggestion subclasses `SuggestionKind` next to its provider.

The card template renders a `Suggestion`'s fields and never asks which kind it is; what a
kind's texts need beyond the count travels in `Suggestion.facts`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs.models import Job, JobStatus
from jobs.presenters import JobView, StageView, present
from monitoring.models import Deployment, Project, SourceImageCollection
from monitoring.permissions import can_manage, manager_names

User = AbstractBaseUser | AnonymousUser
Target = Deployment | SourceImageCollection


class CardState(StrEnum):
    NEEDS_ACTION = "needs-action"
    RUNNING = "running"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DONE = "done"


class SuggestionKind(ABC):
    """A kind of suggestion: its key and its words, in every state of the card.

    Subclasses set the texts and write what depends on the suggestion at hand.
    """

    key: str
    # Words of the card, state by state.
    action_label: str  # the button: "Regroup"
    why: str = ""  # why it matters, under the title
    running_title: str
    done_title: str
    failed: str = "The last run failed"  # before the error's message, if any
    # The error's message is a sentence for people, shown as text; otherwise it is shown
    # as the error it is (set in monospace).
    error_is_prose: bool = False
    # For members who may not act: "A project manager can regroup them".
    who_can_act: str
    # What only this kind shows in the card's body (a strip, a line), or "".
    body_template: str = ""
    # What only this kind shows under the done card's summary (a list), or "".
    done_template: str = ""
    # Whether a user may hide the card (its dismissals must end when its problem does).
    dismissable: bool = True

    @abstractmethod
    def title(self, suggestion: Suggestion) -> SafeString:
        """The card's title while something needs doing, with its numbers in words (HTML)."""

    def action_hint(self, suggestion: Suggestion) -> str:
        """After the title, for those who may act: "Click Regroup to fix.", or ""."""
        return ""

    def retry_blocked(self, suggestion: Suggestion) -> str:
        """Why a failed card's Retry is off (it would fail the same way), or "" if it's on."""
        return ""

    def done_summary(self, job: Job | None) -> SafeString:
        """What the finished job did, in a sentence, or ""."""
        if job is None or job.status != JobStatus.SUCCESS:
            return SafeString("")
        return format_html("{} finished.", job.name)

    @abstractmethod
    def done_next(self, target: Target) -> SafeString:
        """Where to look now that it's done (may hold a link)."""

    @abstractmethod
    def cancelled(self, by_viewer: bool, progress: StageView | None) -> str:
        """What the cancelled card says; `by_viewer` when the person reading cancelled it."""

    def initial_progress(self, count: int) -> StageView | None:
        """The bar before the job's worker has counted anything, or None for no bar."""
        return None


class Viewer:
    """Who is looking at a project's cards, worked out once per page however many cards it
    has: whether they may act, and (only if not) whom to ask."""

    def __init__(self, user: User, project: Project) -> None:
        self.user = user
        self.project = project

    @cached_property
    def can_act(self) -> bool:
        return can_manage(self.user, self.project)

    @cached_property
    def managers(self) -> list[str]:
        return [] if self.can_act else manager_names(self.project.pk)


@dataclass
class Suggestion:
    """One card's content: a kind, its target and count, its state and job, for a viewer."""

    kind: SuggestionKind
    target: Target
    count: int
    state: CardState
    viewer: Viewer
    job: Job | None = None
    # The viewer hid this card: a one-line "hidden suggestion · Show" takes its place.
    dismissed: bool = False
    # What the kind found beyond the count, for its texts (its own type, or None).
    facts: object = None

    @cached_property
    def job_view(self) -> JobView | None:
        return present(self.job) if self.job is not None else None

    @property
    def can_act(self) -> bool:
        return self.viewer.can_act

    @property
    def managers(self) -> list[str]:
        return self.viewer.managers

    @property
    def title(self) -> SafeString:
        return self.kind.title(self)

    @property
    def action_hint(self) -> str:
        return self.kind.action_hint(self)

    @property
    def retry_blocked(self) -> str:
        return self.kind.retry_blocked(self)

    @property
    def progress(self) -> StageView | None:
        """The job's stage under way once its worker has counted; before, the kind's own."""
        counted = self.job_view.counted_stage if self.job_view else None
        return counted or self.kind.initial_progress(self.count)

    @property
    def done_summary(self) -> SafeString:
        return self.kind.done_summary(self.job)

    @property
    def done_next(self) -> SafeString:
        return self.kind.done_next(self.target)

    @property
    def cancelled(self) -> str:
        user = self.viewer.user
        by_viewer = bool(user.is_authenticated and self.job and self.job.cancelled_by_id == user.pk)
        return self.kind.cancelled(by_viewer, self.progress)


def card_state(count: int, job: Job | None, just_finished: bool) -> CardState | None:
    """The card's state from its count and latest job; None when there is nothing to say.

    `just_finished` asks for the brief confirmation shown when a followed job has ended and
    nothing is left; on a fresh page load there is no card then.
    """
    if job is not None and job.is_active:
        return CardState.RUNNING
    if count == 0:
        return CardState.DONE if just_finished else None
    if job is not None and job.status == JobStatus.FAILURE:
        return CardState.FAILED
    if job is not None and job.status == JobStatus.REVOKED:
        return CardState.CANCELLED
    return CardState.NEEDS_ACTION
