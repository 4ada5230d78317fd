"""Where captures aren't grouped, as the occurrence list reports it.

It reads the deployments' stored counts, or the counts of a taxon's occurrences when a
taxon filter narrows the list (monitoring.occurrence_counts). (The project page's rollup
is suggestions.rollup.)
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Deployment
from .occurrence_counts import OccurrenceListCounts

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
    deployments: list[Deployment], counts: OccurrenceListCounts
) -> NoSessionBanner | None:
    """What the occurrence list's banner says, or None when the list has no occurrence
    without a session. `deployments` are those the list covers, `counts` its counts."""
    if not counts.without_session:
        return None
    responsible = sorted(
        (d for d in deployments if counts.without_session_by_deployment.get(d.pk)),
        key=lambda d: (-d.source_images_without_event_count, d.name),
    )
    return NoSessionBanner(occurrences=counts.without_session, responsible=responsible)
