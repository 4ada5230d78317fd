"""Whether a deployment's stored sessions are out of date, from stored fields alone.

Sessions are out of date when the settings they were drawn under (recorded on the
deployment by the last regroup that finished) differ from the project's now, or when a
stored session breaks the rules: longer than 24 hours, or overlapping an earlier session of
its deployment. Both rule checks read sessions' start and end (an index on each session's
length, the (deployment, start) index), never captures, and answer for a whole project in
one query each, however many deployments it has.

A deployment with no record (never regrouped since deployments kept one, or a regroup is
writing now) counts as out of date only when its stored sessions break the rules: its gap
is unknown, and guessing would flag every legacy deployment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, Max, QuerySet, Window
from django.db.models.expressions import RowRange

from .grouping import MAX_SESSION_LENGTH, RULES_VERSION, session_gap
from .models import Deployment, Event, Project


@dataclass(frozen=True)
class Staleness:
    """What is out of date in one deployment's sessions (all zero/None: nothing)."""

    project_gap_seconds: int
    # The gap its sessions were drawn under, when that differs from the project's.
    drawn_gap_seconds: int | None = None
    # Drawn under an older version of the rules.
    old_rules: bool = False
    sessions_too_long: int = 0
    sessions_overlapping: int = 0

    @property
    def settings_differ(self) -> bool:
        return self.drawn_gap_seconds is not None or self.old_rules

    @property
    def sessions_breaking_rules(self) -> int:
        return self.sessions_too_long + self.sessions_overlapping

    @property
    def count(self) -> int:
        """How many things are out of date: the sessions breaking the rules, plus one for
        settings that differ (a card's count; zero when there is nothing to say)."""
        return self.sessions_breaking_rules + (1 if self.settings_differ else 0)

    def __bool__(self) -> bool:
        return self.count > 0


def project_gap_seconds(project: Project) -> int:
    """The gap a regroup of this project's deployments uses now."""
    return session_gap(project.session_time_gap_seconds)[0]


def settings_differ(deployment: Deployment, gap_seconds: int) -> tuple[int | None, bool]:
    """(the recorded gap if it differs from `gap_seconds`, whether the rules are older),
    from the deployment's record; a deployment with no record or no session has neither."""
    recorded_gap = deployment.sessions_gap_seconds
    recorded_rules = deployment.sessions_rules_version
    if recorded_gap is None or recorded_rules is None or not deployment.events_count:
        return None, False
    return (recorded_gap if recorded_gap != gap_seconds else None), recorded_rules != RULES_VERSION


def sessions_too_long(sessions: QuerySet[Event]) -> Counter[int]:
    """Sessions longer than the rules allow, by deployment id (the session length index)."""
    rows = (
        sessions.annotate(length=F("end") - F("start"))
        .filter(length__gt=MAX_SESSION_LENGTH)
        .values_list("deployment_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    return Counter(dict(rows))


def sessions_overlapping(sessions: QuerySet[Event]) -> Counter[int]:
    """Sessions that start before an earlier session of their deployment ends (in order of
    start), by deployment id: one ordered pass over the sessions' start and end."""
    earlier_end = Window(
        Max("end"),
        partition_by=[F("deployment_id")],
        order_by=[F("start").asc(), F("pk").asc()],
        frame=RowRange(start=None, end=-1),
    )
    overlapping = (
        sessions.order_by()
        .annotate(earlier_end=earlier_end)
        .filter(start__lte=F("earlier_end"))
        .values_list("deployment_id", flat=True)
    )
    return Counter(overlapping)


def project_staleness(
    project: Project, deployments: Iterable[Deployment] | None = None
) -> dict[int, Staleness]:
    """The out-of-date deployments of a project (of `deployments`, if given, all of the
    project's otherwise), by id: two queries on sessions for the lot, plus one for the
    deployments when not given."""
    if deployments is None:
        deployments = project.deployments.defer("capture_nights")
    sessions = Event.objects.filter(project=project)
    return _staleness(project, list(deployments), sessions)


def deployment_staleness(deployment: Deployment) -> Staleness:
    """One deployment's staleness, from its sessions alone."""
    sessions = Event.objects.filter(project_id=deployment.project_id, deployment=deployment)
    found = _staleness(deployment.project, [deployment], sessions)
    return found.get(deployment.pk) or Staleness(project_gap_seconds(deployment.project))


def _staleness(
    project: Project, deployments: list[Deployment], sessions: QuerySet[Event]
) -> dict[int, Staleness]:
    gap = project_gap_seconds(project)
    too_long = sessions_too_long(sessions)
    overlapping = sessions_overlapping(sessions)
    found = {}
    for deployment in deployments:
        drawn_gap, old_rules = settings_differ(deployment, gap)
        staleness = Staleness(
            project_gap_seconds=gap,
            drawn_gap_seconds=drawn_gap,
            old_rules=old_rules,
            sessions_too_long=too_long[deployment.pk],
            sessions_overlapping=overlapping[deployment.pk],
        )
        if staleness:
            found[deployment.pk] = staleness
    return found
