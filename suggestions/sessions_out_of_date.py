"""Sessions out of date: a deployment's sessions were drawn under another gap or older rules,
or some break the rules (longer than 24 hours, overlapping). Regroup, full.

The provider reads monitoring.staleness (stored settings and sessions' start and end, never
captures). A deployment with ungrouped captures as well gets this one card, which says both
numbers: its full regroup groups them too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from jobs.models import REGROUP_JOB, Job
from jobs.presenters import StageView
from jobs.regroup import FULL_PARAM, asks_for_full
from monitoring.models import Deployment, Project
from monitoring.staleness import Staleness, deployment_staleness, project_staleness

from .kinds import CardState, Suggestion, Viewer, card_state
from .ungrouped_captures import UngroupedCaptures, running_regroup, ungrouped_captures


@dataclass(frozen=True)
class OutOfDate:
    """What this card found: the sessions' staleness and the captures left ungrouped."""

    staleness: Staleness
    ungrouped: int


class SessionsOutOfDate(UngroupedCaptures):
    """A full regroup's card; what it shows besides its title, once done or cancelled, is the
    ungrouped card's (the strip, the stored counts), so it keeps those texts."""

    key = "sessions-out-of-date"
    why = (
        "Until they are regrouped, sessions, their occurrences and the taxa counts of this "
        "deployment don't follow the project's rules."
    )
    running_title = "Redrawing every session of this deployment…"
    done_title = "Every session follows the project's rules."
    # No dismissing: nothing tells a dismissal when sessions come back into line.
    dismissable = False

    def title(self, suggestion: Suggestion) -> SafeString:
        return format_html_join(" ", "{}", ((sentence,) for sentence in _sentences(suggestion)))

    def action_hint(self, suggestion: Suggestion) -> str:
        out_of_date: OutOfDate = suggestion.facts
        staleness = out_of_date.staleness
        problems = [
            bool(out_of_date.ungrouped),
            staleness.settings_differ,
            bool(staleness.sessions_too_long),
            bool(staleness.sessions_overlapping),
        ]
        if sum(problems) > 1:
            return (
                "Click Regroup to fix both." if sum(problems) == 2 else "Click Regroup to fix all."
            )
        if staleness.settings_differ:
            return "Click Regroup to apply."
        if staleness.sessions_too_long:
            return "Click Regroup to split them."
        return "Click Regroup to redraw them."

    def cancelled(self, by_viewer: bool, progress: StageView | None) -> str:
        who = "You cancelled the regroup" if by_viewer else "The regroup was cancelled"
        if not progress or not progress.done:
            return f"{who} before it redrew any session."
        return (
            f"{who} at {progress.done_of_total}. "
            "Sessions redrawn so far stay; Regroup again to finish."
        )

    def initial_progress(self, count: int) -> None:
        # The card's count is not in captures; the bar waits for the worker's own total.
        return None


SESSIONS_OUT_OF_DATE = SessionsOutOfDate()


def _sentences(suggestion: Suggestion) -> list[str]:
    out_of_date: OutOfDate = suggestion.facts
    staleness = out_of_date.staleness
    sentences = []
    if out_of_date.ungrouped:
        sentences.append(SESSIONS_OUT_OF_DATE.count_sentence(out_of_date.ungrouped))
    if staleness.drawn_gap_seconds is not None:
        sentences.append(
            format_html(
                "Sessions of this deployment were grouped with {}; the project now uses {}.",
                gap_with_article(staleness.drawn_gap_seconds),
                duration_words(staleness.project_gap_seconds),
            )
        )
    elif staleness.old_rules:
        sentences.append(
            "Sessions of this deployment were grouped under an older version of the rules."
        )
    if staleness.sessions_too_long:
        sentences.append(
            format_html(
                ngettext(
                    "{number} session is longer than 24 hours.",
                    "{number} sessions are longer than 24 hours.",
                    staleness.sessions_too_long,
                ),
                number=intcomma(staleness.sessions_too_long),
            )
        )
    if staleness.sessions_overlapping:
        sentences.append(
            format_html(
                ngettext(
                    "{number} session overlaps an earlier one.",
                    "{number} sessions overlap earlier ones.",
                    staleness.sessions_overlapping,
                ),
                number=intcomma(staleness.sessions_overlapping),
            )
        )
    return sentences


def duration_words(seconds: int) -> str:
    """A gap in words: "1 hour", "1 hour 30 minutes", "45 minutes", "10 seconds"."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        ngettext("{n} hour", "{n} hours", hours).format(n=intcomma(hours)) if hours else "",
        ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes) if minutes else "",
        ngettext("{n} second", "{n} seconds", seconds).format(n=seconds) if seconds else "",
    ]
    return " ".join(part for part in parts if part)


def gap_with_article(seconds: int) -> str:
    """ "a 2-hour gap", "a 45-minute gap", or "a gap of 1 hour 30 minutes"."""
    hours, rest = divmod(seconds, 3600)
    if not rest:
        return f"a {intcomma(hours)}-hour gap"
    if seconds < 3600 and not seconds % 60:
        return f"a {seconds // 60}-minute gap"
    return f"a gap of {duration_words(seconds)}"


def sessions_out_of_date(
    deployment: Deployment,
    viewer: Viewer,
    job: Job | None,
    staleness: Staleness,
    just_finished: bool = False,
) -> Suggestion | None:
    """The deployment's "sessions out of date" card (with its ungrouped captures, if any),
    or None when this kind has nothing to say and the ungrouped card speaks, if anything.

    `job` is the deployment's latest regroup: a full one is this card's, running or just
    finished with everything in order.
    """
    ungrouped = deployment.source_images_without_event_count
    ours = job is not None and asks_for_full(job.params)
    if not staleness and not (ours and (job.is_active or (just_finished and not ungrouped))):
        return None
    count = staleness.count + ungrouped if staleness else 0
    state = card_state(count, job, just_finished)
    if state is None:
        return None
    facts = OutOfDate(staleness, ungrouped)
    return Suggestion(SESSIONS_OUT_OF_DATE, deployment, count, state, viewer, job, facts=facts)


def deployment_suggestion(
    deployment: Deployment, viewer: Viewer, just_finished: bool = False
) -> Suggestion | None:
    """The one card of a deployment's page: out-of-date sessions (saying the ungrouped
    captures too), else ungrouped captures, else none."""
    job = Job.objects.of_type(REGROUP_JOB).for_target(deployment).newest()
    staleness = deployment_staleness(deployment)
    return sessions_out_of_date(
        deployment, viewer, job, staleness, just_finished
    ) or ungrouped_captures(deployment, viewer, job, just_finished)


def running_deployment_suggestion(job: Job, viewer: Viewer) -> Suggestion:
    """The card of a deployment whose latest regroup, `job`, is active, from the job and its
    deployment alone: a full regroup's is this kind's, any other the ungrouped card's."""
    if asks_for_full(job.params):
        return Suggestion(SESSIONS_OUT_OF_DATE, job.deployment, 0, CardState.RUNNING, viewer, job)
    return running_regroup(job, viewer)


def regroup_params(deployment: Deployment) -> dict[str, bool]:
    """What a Regroup of this deployment asks for: a full regroup when its sessions are out
    of date (an incremental one would trust them), the usual one otherwise."""
    return {FULL_PARAM: True} if deployment_staleness(deployment) else {}


@dataclass(frozen=True)
class RegroupNeed:
    """A deployment that needs a regroup, and whether it must be a full one."""

    deployment: Deployment
    full: bool
    staleness: Staleness | None


def deployments_needing_regroup(
    project: Project, regrouping: Collection[int] = ()
) -> list[RegroupNeed]:
    """The project's deployments that need a regroup, most ungrouped captures first, each
    with whether it needs a FULL one (params {"full": True}: its sessions are out of date).

    Three queries, however many deployments: the deployments (without their night strips),
    then the project's sessions twice (monitoring.staleness). A deployment needs a regroup
    when it has ungrouped captures or out-of-date sessions; it needs a full one for the
    latter, whether or not it also has ungrouped captures (a full regroup groups them too).
    `regrouping` names deployments (by id) to list whatever they need, such as those with a
    regroup running, whose record of settings is cleared while it writes.
    """
    deployments = list(
        project.deployments.defer("capture_nights").order_by(
            "-source_images_without_event_count", "name", "pk"
        )
    )
    stale = project_staleness(project, deployments)
    return [
        RegroupNeed(deployment, full=deployment.pk in stale, staleness=stale.get(deployment.pk))
        for deployment in deployments
        if deployment.source_images_without_event_count
        or deployment.pk in stale
        or deployment.pk in regrouping
    ]
