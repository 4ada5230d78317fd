"""How many occurrences a filter of the occurrence list selects, from stored counts.

Counting a million occurrences for a page's "1,204 occurrences" and its page links costs
more than the rest of the page; the deployments keep these numbers already.
"""

from __future__ import annotations

from django.db.models import Sum

from .models import Deployment, Project


def stored_occurrence_count(
    project: Project, deployment: Deployment | None, without_session: bool
) -> int:
    """Occurrences of the project (or one deployment), all or only those with no session."""
    deployments = project.deployments.all()
    if deployment is not None:
        deployments = deployments.filter(pk=deployment.pk)
    field = "occurrences_without_event_count" if without_session else "occurrences_count"
    return deployments.aggregate(total=Sum(field))["total"] or 0
