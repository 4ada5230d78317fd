"""Where captures aren't grouped, as the occurrence list reports it.

It reads the deployments' stored counts; the occurrence banner counts live only when a
taxon filter narrows the list, through the (event, determination) index. (The project
page's rollup is suggestions.rollup.)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from .models import Deployment, Event, Occurrence, Project, Taxon

BANNER_NAMES = 3


@dataclass
class NoSessionBanner:
    occurrences: int
    # Deployments whose ungrouped captures explain it, most ungrouped first.
    responsible: list[Deployment]

    @property
    def named(self) -> list[Deployment]:
        return self.responsible[:BANNER_NAMES]

    @property
    def more(self) -> int:
        return max(0, len(self.responsible) - BANNER_NAMES)


def no_session_banner(
    project: Project,
    deployment: Deployment | None = None,
    session: Event | str | None = None,
    taxon: Taxon | None = None,
) -> NoSessionBanner | None:
    """What the occurrence list's banner says, or None when the list has no occurrence
    without a session. `session` is a session (then nothing to say), "none" or None."""
    if isinstance(session, Event):
        return None
    deployments: QuerySet[Deployment] = project.deployments.all()
    if deployment is not None:
        deployments = deployments.filter(pk=deployment.pk)
    if taxon is None:
        counts = dict(
            deployments.filter(occurrences_without_event_count__gt=0).values_list(
                "pk", "occurrences_without_event_count"
            )
        )
    else:
        without_session = Occurrence.objects.filter(
            project=project, event__isnull=True, determination=taxon
        )
        if deployment is not None:
            without_session = without_session.filter(deployment=deployment)
        # COUNT(*), not COUNT(id): the (project, taxon, event, deployment) index holds
        # everything this needs, so it reads no table rows.
        counts = dict(without_session.values_list("deployment").annotate(n=Count("*")).order_by())
    if not counts:
        return None
    responsible = list(
        deployments.filter(pk__in=counts, source_images_without_event_count__gt=0).order_by(
            "-source_images_without_event_count", "name"
        )
    )
    return NoSessionBanner(occurrences=sum(counts.values()), responsible=responsible)
