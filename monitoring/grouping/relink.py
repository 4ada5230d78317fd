"""Occurrences follow their captures: each one's session is that of its earliest detection."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Subquery

from ..models import Deployment, Detection, Occurrence
from .sql import STREAM_ROWS

RELINK_BATCH = 1_000


def relink_occurrences(deployment: Deployment) -> tuple[int, set[int]]:
    """Set each occurrence's session to that of its earliest detection's capture.

    Returns how many occurrences changed and the sessions they left or joined. Reads each
    occurrence's wanted session once (one correlated lookup per occurrence, by index) and
    writes only the occurrences whose session differs, grouped by their new session.
    """
    earliest = Subquery(
        Detection.objects.filter(occurrence=OuterRef("pk"))
        .order_by(F("source_image__timestamp").asc(nulls_last=True), "pk")
        .values("source_image__event")[:1]
    )
    wanted = (
        Occurrence.objects.filter(deployment=deployment)
        .filter(Exists(Detection.objects.filter(occurrence=OuterRef("pk"))))
        .annotate(session=earliest)
        .order_by()
        .values_list("pk", "event_id", "session")
    )
    moves: dict[int | None, list[int]] = {}
    sessions: set[int] = set()
    for pk, current, session in wanted.iterator(chunk_size=STREAM_ROWS):
        if current != session:
            moves.setdefault(session, []).append(pk)
            sessions.update(event_id for event_id in (current, session) if event_id)
    relinked = 0
    for session, pks in moves.items():
        for start in range(0, len(pks), RELINK_BATCH):
            batch = pks[start : start + RELINK_BATCH]
            relinked += Occurrence.objects.filter(pk__in=batch).update(event_id=session)
    return relinked, sessions
