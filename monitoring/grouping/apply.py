"""Write a plan: in chunks of whole sessions, each one transaction, with progress reported
and a stop check between chunks; then relink occurrences, delete empty sessions, refresh
the sessions' and the deployment's counts once, also after a stop, so what was done is
consistent and a rerun completes it.

The deployment's recorded settings are forgotten before the first write and recorded
again only when the plan is all written: a regroup that was stopped, or whose worker
died, leaves sessions that an incremental regroup must not trust, so the next is full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from ..models import Deployment, Event, Occurrence, SourceImage, save_session_counts
from .plan import Plan, in_windows, sessioned_undated_captures
from .relink import relink_occurrences
from .rules import RULES_VERSION, DrawnSession
from .sql import move_captures, regroup_transaction

ProgressCallback = Callable[[int, int], None]
StopCheck = Callable[[], bool]


class RegroupMode(StrEnum):
    # Every dated capture read and redrawn: the verification path.
    FULL = "full"
    # Only the windows around what changed since the sessions were drawn.
    INCREMENTAL = "incremental"


@dataclass
class RegroupSummary:
    deployment_id: int
    gap_seconds: int
    mode: RegroupMode = RegroupMode.FULL
    # Why a full regroup ran, for people ("" for an incremental one).
    full_because: str = ""
    captures_read: int = 0
    captures_to_group: int = 0
    captures_grouped: int = 0
    # Captures without a timestamp taken out of the session they were in.
    undated_captures_taken_out: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_deleted: int = 0
    sessions_total: int = 0
    # Among the captures read.
    duplicate_timestamps: int = 0
    captures_without_timestamp: int = 0
    occurrences_relinked: int = 0
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, int | str]:
        """What it read and wrote, labelled for people: a job stage's statistics."""
        return {
            "Mode": self.mode.capitalize(),
            "Captures read": self.captures_read,
            "Captures grouped": self.captures_grouped,
            "Sessions created": self.sessions_created,
            "Sessions updated": self.sessions_updated,
            "Sessions deleted": self.sessions_deleted,
            "Occurrences re-linked": self.occurrences_relinked,
            "Captures without timestamp": self.captures_without_timestamp,
        }

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
        # Sessions whose captures or name this regroup changed.
        self.touched_sessions: set[int] = set()
        # Sessions captures were moved into, and captures taken out of theirs: where the
        # occurrences to relink have a detection.
        self.moved_into: set[int] = set()
        self.taken_out: list[int] = []
        # Sessions this regroup made: all they hold, it moved or relinked into them.
        self.created: set[int] = set()

    def run(self, report: ProgressCallback, should_stop: StopCheck) -> None:
        plan, summary = self.plan, self.summary
        summary.duplicate_timestamps = plan.duplicate_timestamps
        summary.captures_read = plan.captures_read
        summary.captures_to_group = plan.captures_to_group
        total = plan.captures_to_group + plan.undated_in_sessions
        done = 0
        report(done, total)

        if plan.pending or plan.undated_in_sessions or plan.names_to_free:
            self._forget_drawn_settings()
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

    def _forget_drawn_settings(self) -> None:
        """Until the plan is all written, the sessions are not what any settings draw."""
        if self.deployment.sessions_gap_seconds is not None:
            self._save_drawn_settings(None, None)

    def _free_names(self) -> None:
        if not self.plan.names_to_free:
            return
        with regroup_transaction():
            for event_id in self.plan.names_to_free:
                Event.objects.filter(pk=event_id).update(group_by=f"regrouping-{event_id}")

    def _take_out_undated(self) -> int:
        undated = sessioned_undated_captures(self.deployment)
        with regroup_transaction():
            rows = list(undated.values_list("pk", "event_id"))
            taken_out = undated.update(event=None)
        self.taken_out = [pk for pk, _ in rows]
        self.touched_sessions |= {event_id for _, event_id in rows}
        self.summary.undated_captures_taken_out = taken_out
        return taken_out

    def _write(self, chunk: list[DrawnSession]) -> int:
        """Write one chunk of sessions in one transaction; return the captures written."""
        summary = self.summary
        existing_names = self.plan.existing_names
        with regroup_transaction():
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
            self.created.update(event.pk for event in created)

            moving = [session for session in chunk if session.captures_to_write]
            written = move_captures(
                self.deployment.pk,
                ((session.event_id, session.start, session.end) for session in moving),
            )
            self.moved_into.update(session.event_id for session in moving)
            touched: set[int] = set()
            for session in chunk:
                if existing_names.get(session.event_id, session.group_by) != session.group_by:
                    Event.objects.filter(pk=session.event_id).update(group_by=session.group_by)
                touched |= session.previous_sessions() | {session.event_id}
        self.touched_sessions |= touched
        summary.captures_grouped += written
        return written

    def _finish(self) -> None:
        """Relink occurrences, delete empty sessions, then refresh the counts of the sessions
        and of the deployment, once, and record the settings if the plan is all written:
        in one transaction, so that a run that dies here leaves none of it done.

        A full regroup relinks every occurrence and refreshes every session, which also
        mends what a run that died before its end left behind; an incremental one only
        what it changed.
        """
        summary, deployment, full = self.summary, self.deployment, self.plan.full
        # The captures this regroup put in another session; looked for in its windows, so
        # the database reads those, not the whole deployment's history.
        moved = self.captures.filter(
            Q(event__in=self.moved_into) & in_windows(self.plan.windows) | Q(pk__in=self.taken_out)
        )
        # Those it changed, and those it found in its windows: a session there may have
        # lost captures to a bad sync, and no drawn session shares any of its captures.
        sessions = Event.objects.filter(deployment=deployment)
        with regroup_transaction():
            relinked = relink_occurrences(deployment, None if full else moved)
            summary.occurrences_relinked = relinked.occurrences
            self.touched_sessions |= relinked.sessions
            if not full:
                sessions = sessions.filter(pk__in=self.touched_sessions | self.plan.in_windows)
            empty = sessions.filter(
                ~Exists(SourceImage.objects.filter(event=OuterRef("pk"))),
                ~Exists(Occurrence.objects.filter(event=OuterRef("pk"))),
            )
            deleted = set(empty.values_list("pk", flat=True))
            Event.objects.filter(pk__in=deleted).delete()
            # The sessions it made are counted from what it moved; the others recounted.
            counted = relinked.counts_of_new_sessions(self.created - deleted)
            sessions.exclude(pk__in=deleted | counted.keys()).update_calculated_fields()
            save_session_counts(counted)
            deployment.update_calculated_fields(save=True, from_sessions=not full)
            if not summary.stopped:
                self._save_drawn_settings(summary.gap_seconds, RULES_VERSION)
        summary.sessions_deleted = len(deleted)
        existing = set(self.plan.existing_names)
        summary.sessions_updated = len((self.touched_sessions & existing) - deleted)
        summary.sessions_total = deployment.events_count
        summary.captures_without_timestamp = deployment.source_images_without_timestamp_count

    def _save_drawn_settings(self, gap_seconds: int | None, rules_version: int | None) -> None:
        deployment = self.deployment
        if (deployment.sessions_gap_seconds, deployment.sessions_rules_version) == (
            gap_seconds,
            rules_version,
        ):
            return
        deployment.sessions_gap_seconds = gap_seconds
        deployment.sessions_rules_version = rules_version
        Deployment.objects.filter(pk=deployment.pk).update(
            sessions_gap_seconds=gap_seconds, sessions_rules_version=rules_version
        )
