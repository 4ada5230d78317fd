"""Write a plan: in chunks of whole sessions, each one transaction, with progress reported
and a stop check between chunks; then relink occurrences, delete empty sessions and
recount, also after a stop, so what was done is consistent and a rerun completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from ..models import Deployment, Event, Occurrence, SourceImage
from .plan import Plan, sessioned_undated_captures
from .relink import relink_occurrences
from .rules import DrawnSession
from .sql import commit_without_waiting_for_disk

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


@dataclass
class RegroupSummary:
    deployment_id: int
    gap_seconds: int
    captures_to_group: int = 0
    captures_grouped: int = 0
    # Captures without a timestamp taken out of the session they were in.
    undated_captures_taken_out: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_deleted: int = 0
    sessions_total: int = 0
    duplicate_timestamps: int = 0
    captures_without_timestamp: int = 0
    occurrences_relinked: int = 0
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def wrote_nothing(self) -> bool:
        return not (
            self.captures_grouped
            or self.undated_captures_taken_out
            or self.sessions_created
            or self.sessions_updated
            or self.sessions_deleted
            or self.occurrences_relinked
        )


def apply_plan(
    deployment: Deployment,
    plan: Plan,
    summary: RegroupSummary,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> None:
    """Write `plan` to the deployment, recording what was done in `summary`."""
    _Writer(deployment, plan, summary).run(
        progress or (lambda done, total: None), should_stop or (lambda: False)
    )


def chunks(sessions: list[DrawnSession], captures_per_chunk: int) -> Iterator[list[DrawnSession]]:
    """Whole sessions, cut once a chunk has at least `captures_per_chunk` captures to write."""
    chunk: list[DrawnSession] = []
    size = 0
    for session in sessions:
        chunk.append(session)
        size += session.captures_to_write
        if size >= captures_per_chunk:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class _Writer:
    def __init__(self, deployment: Deployment, plan: Plan, summary: RegroupSummary) -> None:
        self.deployment = deployment
        self.plan = plan
        self.summary = summary
        self.captures = SourceImage.objects.filter(deployment=deployment)
        self.touched_sessions: set[int] = set()

    def run(self, report: ProgressCallback, should_stop: StopCheck) -> None:
        plan, summary = self.plan, self.summary
        summary.duplicate_timestamps = plan.duplicate_timestamps
        summary.captures_without_timestamp = plan.captures_without_timestamp
        summary.captures_to_group = plan.captures_to_group
        total = plan.captures_to_group + plan.undated_in_sessions
        done = 0
        report(done, total)

        self._free_names()
        if plan.undated_in_sessions:
            done += self._take_out_undated()
        for chunk in chunks(plan.pending, settings.REGROUP_CHUNK_CAPTURES):
            if should_stop():
                summary.stopped = True
                break
            done += self._write(chunk)
            report(done, total)
        self._finish()

    def _free_names(self) -> None:
        with transaction.atomic():
            for event_id in self.plan.names_to_free:
                Event.objects.filter(pk=event_id).update(group_by=f"regrouping-{event_id}")

    def _take_out_undated(self) -> int:
        undated = sessioned_undated_captures(self.deployment)
        with transaction.atomic():
            sessions = set(undated.values_list("event_id", flat=True))
            taken_out = undated.update(event=None)
            Event.objects.filter(pk__in=sessions).update_calculated_fields()
        self.touched_sessions |= sessions
        self.summary.undated_captures_taken_out = taken_out
        return taken_out

    def _write(self, chunk: list[DrawnSession]) -> int:
        """Write one chunk of sessions in one transaction; return the captures written."""
        summary = self.summary
        existing_names = self.plan.existing_names
        written = 0
        with transaction.atomic():
            commit_without_waiting_for_disk()
            new_sessions = [session for session in chunk if session.event_id is None]
            created = Event.objects.bulk_create(
                Event(
                    deployment=self.deployment,
                    project_id=self.deployment.project_id,
                    group_by=session.group_by,
                    start=session.start,
                    end=session.end,
                )
                for session in new_sessions
            )
            for session, event in zip(new_sessions, created, strict=True):
                session.event_id = event.pk
            summary.sessions_created += len(created)

            touched: set[int] = set()
            for session in chunk:
                written += (
                    self.captures.filter(timestamp__range=(session.start, session.end))
                    .exclude(event_id=session.event_id)
                    .update(event_id=session.event_id)
                )
                if existing_names.get(session.event_id, session.group_by) != session.group_by:
                    Event.objects.filter(pk=session.event_id).update(group_by=session.group_by)
                touched |= session.previous_sessions() | {session.event_id}
            Event.objects.filter(pk__in=touched).update_calculated_fields()
        self.touched_sessions |= touched
        summary.captures_grouped += written
        return written

    def _finish(self) -> None:
        """Relink occurrences, delete empty sessions, refresh the deployment's counts."""
        summary = self.summary
        with transaction.atomic():
            summary.occurrences_relinked, relinked_sessions = relink_occurrences(self.deployment)
            Event.objects.filter(pk__in=relinked_sessions).update_calculated_fields()
        self.touched_sessions |= relinked_sessions

        with transaction.atomic():
            empty = Event.objects.filter(deployment=self.deployment).filter(
                ~Exists(SourceImage.objects.filter(event=OuterRef("pk"))),
                ~Exists(Occurrence.objects.filter(event=OuterRef("pk"))),
            )
            deleted = set(empty.values_list("pk", flat=True))
            Event.objects.filter(pk__in=deleted).delete()
        summary.sessions_deleted = len(deleted)
        existing = set(self.plan.existing_names)
        summary.sessions_updated = len((self.touched_sessions & existing) - deleted)
        self.deployment.update_calculated_fields(save=True)
        summary.sessions_total = self.deployment.events_count
