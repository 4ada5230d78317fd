"""Captures being added from a file (the Add captures job): the card that follows the
deployment's latest such job from Check to done, with the new sessions or the bad rows.

Not a problem found in the data but work a manager asked for: the card shows while the job
runs, once when it succeeds (what was added, the sessions they are in), and after a failure
or a cancel until the next file is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs.add_captures import ADD_CAPTURES_JOB, is_rejected, rejected_in_words
from jobs.models import Job, JobStatus
from jobs.presenters import StageView
from monitoring.capture_import import added_in_words
from monitoring.models import Deployment, Event

from .kinds import CardState, Suggestion, SuggestionKind, Viewer, card_state

# Bad rows the card lists; the job's log has more.
PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class AddedFacts:
    """What the card lists: the sessions the new captures are in, or the file's bad rows."""

    sessions: list[Event] = field(default_factory=list)
    more_sessions: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0
    rejected: bool = False


class AddedCaptures(SuggestionKind):
    key = "added-captures"
    # Offered when a run was cancelled: it goes on where it stopped.
    action_label = "Retry"
    running_title = "Adding captures…"
    done_title = "Captures added."
    failed = "Adding them failed"
    error_is_prose = True
    who_can_act = "A project manager can add them again"
    body_template = "partials/suggestions/added_captures.html"
    done_template = "partials/suggestions/added_captures_done.html"
    dismissable = False

    def title(self, suggestion: Suggestion) -> SafeString:
        name = _file_name(suggestion.job)
        if suggestion.state == CardState.CANCELLED:
            return format_html("Adding the captures from {} was stopped.", name)
        return format_html("The captures from {} weren't all added.", name)

    def retry_blocked(self, suggestion: Suggestion) -> str:
        if suggestion.job is not None and is_rejected(suggestion.job.params):
            return rejected_in_words(suggestion.job.params)
        return ""

    def done_summary(self, job: Job | None) -> SafeString:
        if job is None or job.status != JobStatus.SUCCESS or not job.result:
            return super().done_summary(job)
        result = job.result
        return format_html(
            "{}", added_in_words(result["added"], result["already_there"], result["sessions"])
        )

    def done_next(self, target: Deployment) -> SafeString:
        return format_html(
            'The counts below are up to date. <a href="{}?deployment={}">All sessions of {}</a>',
            reverse("session-list", args=[target.project_id]),
            target.pk,
            target,
        )

    def cancelled(self, by_viewer: bool, progress: StageView | None) -> str:
        who = "You stopped it" if by_viewer else "It was stopped"
        if not progress or not progress.done or progress.total is None:
            return f"{who} before anything was added. Retry starts it again."
        return (
            f"{who} at {progress.done_of_total} "
            f"({progress.name.lower()}). What was added stays; Retry goes on from there."
        )


ADDED_CAPTURES = AddedCaptures()


def added_captures(
    deployment: Deployment, viewer: Viewer, just_finished: bool = False
) -> Suggestion | None:
    """The card of the deployment's latest Add captures job, or None when there is nothing
    to say (no such job, or it succeeded and this is a fresh page)."""
    job = Job.objects.of_type(ADD_CAPTURES_JOB).for_target(deployment).newest()
    return suggestion_of(deployment, job, viewer, just_finished)


def suggestion_of(
    deployment: Deployment, job: Job | None, viewer: Viewer, just_finished: bool = False
) -> Suggestion | None:
    """The card for `job`, the deployment's latest Add captures job (fetched by the caller)."""
    # Something is left to do unless the latest job succeeded.
    unfinished = int(job is not None and job.status != JobStatus.SUCCESS)
    state = card_state(unfinished, job, just_finished)
    if state is None:
        return None
    facts = _facts(job) if state in (CardState.DONE, CardState.FAILED) else AddedFacts()
    return Suggestion(ADDED_CAPTURES, deployment, unfinished, state, viewer, job, facts=facts)


def _facts(job: Job) -> AddedFacts:
    if job.status == JobStatus.SUCCESS:
        result = job.result or {}
        ids = result.get("session_ids") or []
        sessions = list(Event.objects.filter(pk__in=ids).order_by("start", "pk"))
        return AddedFacts(sessions=sessions, more_sessions=(result.get("sessions") or 0) - len(ids))
    problems = (job.params.get("problems") or [])[:PROBLEMS_SHOWN]
    return AddedFacts(
        problems=problems,
        more_problems=(job.params.get("problem_count") or 0) - len(problems),
        rejected=is_rejected(job.params),
    )


def _file_name(job: Job | None) -> str:
    return (job.params.get("file_name") if job else None) or "the file"
