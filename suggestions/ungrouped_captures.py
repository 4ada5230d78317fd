"""Ungrouped captures: a deployment's captures with a timestamp and no session (Regroup).

The provider reads the deployment's stored counts, its latest regroup and the viewer's
dismissal: a few indexed queries, never a count of captures.
"""

from __future__ import annotations

from typing import Any

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from jobs.models import Job
from jobs.presenters import StageView, counting_from_zero
from monitoring.models import Deployment

from .dismissals import follow_count, is_dismissed
from .kinds import CardState, Suggestion, SuggestionKind, Viewer, card_state


class UngroupedCaptures(SuggestionKind):
    key = "ungrouped-captures"
    action_label = "Regroup"
    why = (
        "Until they are, their occurrences show “no session” and the taxa counts of this "
        "deployment and its project are out of date."
    )
    running_title = "Grouping captures into sessions…"
    done_title = "All captures are grouped into sessions."
    who_can_act = "A project manager can regroup them"
    body_template = "partials/suggestions/ungrouped_captures.html"

    def title(self, suggestion: Suggestion) -> SafeString:
        return self.count_sentence(suggestion.count)

    def count_sentence(self, count: int) -> SafeString:
        return format_html(
            ngettext(
                "{number} capture isn't grouped into a session.",
                "{number} captures aren't grouped into a session.",
                count,
            ),
            number=intcomma(count),
        )

    def action_hint(self, suggestion: Suggestion) -> str:
        return "Click Regroup to fix."

    def done_summary(self, job: Job | None) -> SafeString:
        grouped = (job.result or {}).get("captures_grouped") if job else None
        if not grouped or not super().done_summary(job):
            return super().done_summary(job)
        return format_html(
            ngettext(
                "{job} finished: {number} capture grouped.",
                "{job} finished: {number} captures grouped.",
                grouped,
            ),
            job=job.name,
            number=intcomma(grouped),
        )

    def done_next(self, target: Deployment) -> SafeString:
        return format_html(
            'The counts below are up to date; <a href="{}">reload the page</a> to list the '
            "new sessions.",
            target.get_absolute_url(),
        )

    def cancelled(self, by_viewer: bool, progress: StageView | None) -> str:
        who = "You cancelled the regroup" if by_viewer else "The regroup was cancelled"
        if not progress or not progress.done:
            return f"{who} before it grouped any captures."
        return f"{who} at {progress.done_of_total}. Captures grouped so far stay grouped."

    def initial_progress(self, count: int) -> StageView:
        return counting_from_zero(count, "captures")


UNGROUPED_CAPTURES = UngroupedCaptures()


def ungrouped_captures(
    deployment: Deployment, viewer: Viewer, job: Job | None, just_finished: bool = False
) -> Suggestion | None:
    """The deployment's "captures aren't grouped" card, or None when there is nothing to say.

    `job` is the deployment's latest regroup. `just_finished` asks for the brief
    confirmation shown when a followed job has ended and nothing is left; on a fresh page
    load there is no card then.
    """
    count = deployment.source_images_without_event_count
    state = card_state(count, job, just_finished)
    if state is None:
        return None
    hidden = is_dismissed(viewer.user, UNGROUPED_CAPTURES.key, deployment.pk, count, state)
    return Suggestion(UNGROUPED_CAPTURES, deployment, count, state, viewer, job, dismissed=hidden)


def running_regroup(job: Job, viewer: Viewer) -> Suggestion:
    """The card of a deployment whose latest regroup, `job`, is active and not a full one,
    from the job and its deployment alone (fetched with it): what a running card's poll
    needs, and no more."""
    deployment = job.deployment
    count = deployment.source_images_without_event_count
    return Suggestion(UNGROUPED_CAPTURES, deployment, count, CardState.RUNNING, viewer, job)


def follow_ungrouped_count(sender: Any, deployment: Deployment, **kwargs: Any) -> None:
    """Dismissals of a deployment's card follow its stored count (receiver of monitoring's
    `ungrouped_count_changed`, connected in apps.py)."""
    follow_count(
        UNGROUPED_CAPTURES.key, deployment.pk, deployment.source_images_without_event_count
    )
