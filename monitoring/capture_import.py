"""Add a file of captures to a deployment and group them: the stages both the Add captures
job and `manage.py import_captures --group` run.

1. Check: every row, streamed; any bad row and nothing is imported.
2. Import: chunks of whole transactions; paths already there are skipped and counted.
3. Group sessions: the regroup engine (incremental: the new captures' nights), under the
   deployment's lock, waiting for another regroup of it to finish.
4. Refresh counts: the deployment's stored numbers (the project's pages read those).

The caller gives each stage a progress object, a log, a stop check and a checkpoint it
keeps: saved after the check and inside every chunk's transaction, it lets a rerun after a
stop or a lost worker go on where the last run was, and count as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Protocol

from django.utils.translation import ngettext

from .grouping import RegroupError, RegroupSummary, regroup_deployment
from .importing import (
    CaptureFileError,
    FileCheck,
    ImportTotals,
    check_capture_file,
    import_capture_rows,
)
from .locks import DeploymentBusy
from .models import Deployment, SourceImage

# (key, name, unit) of each stage, in order.
STAGES = (
    ("check", "Check", "rows"),
    ("import", "Import", "rows"),
    ("group", "Group sessions", "captures"),
    ("refresh", "Refresh counts", "deployments"),
)
# Sessions the result names one by one; the rest are counted.
SESSIONS_LISTED = 20
LOCK_WAIT_SECONDS = 1.0


class StageProgress(Protocol):
    def start(self) -> None: ...
    def update(self, done: int, total: int) -> None: ...
    def set_stats(self, **stats: int | str) -> None: ...
    def finish(self) -> None: ...


class AddCapturesFailed(Exception):
    """Nothing more can be done with this file; `problems` lists its bad rows (the first
    ones) and `problem_count` counts them; `rejected` when the file itself is at fault, so
    running it again would fail the same way."""

    def __init__(
        self,
        message: str,
        problems: list[str] | None = None,
        problem_count: int = 0,
        rejected: bool = True,
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.problem_count = problem_count
        self.rejected = rejected


class AddCapturesStopped(Exception):
    """Stopped at a safe point because a stop was asked; the message says where."""


@dataclass
class AddCapturesResult:
    rows: int
    added: int
    already_there: int
    undated: int
    naive_timestamps: int
    sessions: int
    # The first SESSIONS_LISTED sessions the added captures are in, by start.
    session_ids: list[int] = field(default_factory=list)
    regroup: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def counted(singular: str, plural: str, count: int) -> str:
    """`count` things in words, the number grouped for people: "1 row", "12,480 rows"."""
    return ngettext(singular, plural, count) % {"count": f"{count:,}"}


def added_in_words(added: int, already_there: int, sessions: int) -> str:
    """ "Added 12,480 captures (31 already there) and grouped them into 9 sessions." """
    if not added:
        return ngettext(
            "Added no captures: %(count)s was already there.",
            "Added no captures: all %(count)s were already there.",
            already_there,
        ) % {"count": f"{already_there:,}"}
    words = ngettext("Added %(count)s capture", "Added %(count)s captures", added) % {
        "count": f"{added:,}"
    }
    if already_there:
        words += f" ({already_there:,} already there)"
    if not sessions:
        return words + ngettext(
            "; it has no timestamp, so it is in no session.",
            "; they have no timestamps, so they are in no session.",
            added,
        )
    them = ngettext("it", "them", added)
    into = ngettext("%(count)s session", "%(count)s sessions", sessions) % {
        "count": f"{sessions:,}"
    }
    return f"{words} and grouped {them} into {into}."


@dataclass
class AddCaptures:
    """One run of the stages on one file. `open_file()` opens the file for reading (it is
    read twice: checked, then imported)."""

    deployment: Deployment
    open_file: Callable[[], AbstractContextManager[BinaryIO]]
    stages: dict[str, StageProgress]
    log: Callable[..., None]
    should_stop: Callable[[], bool]
    chunk_rows: int
    # What earlier runs of the same work did; `save_checkpoint` keeps it.
    checkpoint: dict[str, Any] = field(default_factory=dict)
    save_checkpoint: Callable[[dict[str, Any]], None] = lambda checkpoint: None
    max_bytes: int | None = None
    max_rows: int | None = None
    # Lines in the file, if known, for the check's progress.
    lines: int | None = None
    # The rows were pasted into the page, not a file: the messages say so.
    pasted: bool = False

    def run(self) -> AddCapturesResult:
        check = self._check()
        totals = self._import(check)
        summary = self._group()
        self._refresh()
        result = self._result(check, totals, summary)
        self.log(added_in_words(result.added, result.already_there, result.sessions))
        return result

    # --- Check --------------------------------------------------------------------------

    def _check(self) -> FileCheck:
        stage = self.stages["check"]
        stage.start()
        if "check" in self.checkpoint:
            check = FileCheck(**self.checkpoint["check"])
            stage.update(check.lines, check.lines)
            self.log(
                "Checked by an earlier run: "
                + counted("%(count)s row, good.", "%(count)s rows, all good.", check.rows)
            )
        else:
            total = self.lines or 0
            try:
                with self.open_file() as binary:
                    check = check_capture_file(
                        binary,
                        max_bytes=self.max_bytes,
                        max_rows=self.max_rows,
                        progress=lambda lines: stage.update(lines, max(total, lines)),
                        should_stop=self.should_stop,
                    )
            except CaptureFileError as error:
                raise AddCapturesFailed(f"Nothing was imported: {error}.") from None
            if check.stopped:
                raise AddCapturesStopped(
                    f"Stopped while checking the file, at line {check.lines:,}; nothing was "
                    "imported. Retry checks it again."
                )
            if not check.ok:
                raise AddCapturesFailed(
                    self._bad_rows_in_words(check),
                    check.problems,
                    check.problem_count,
                )
            self.checkpoint["check"] = {
                "rows": check.rows,
                "rows_undated": check.rows_undated,
                "naive_timestamps": check.naive_timestamps,
                "first_naive_line": check.first_naive_line,
                "lines": check.lines,
            }
            self.save_checkpoint(self.checkpoint)
            self.log(
                ngettext(
                    "Checked %(count)s row: good.", "Checked %(count)s rows: all good.", check.rows
                )
                % {"count": f"{check.rows:,}"}
            )
            if check.naive_timestamps:
                self.log(check.naive_in_words(), "WARNING")
        stage.set_stats(
            **{
                "Rows": check.rows,
                "Without a timestamp": check.rows_undated,
                "Taken as UTC": check.naive_timestamps,
            }
        )
        stage.finish()
        return check

    def _bad_rows_in_words(self, check: FileCheck) -> str:
        """Why nothing was imported: "… 1 bad row in the file. Fix it and add the file again." """
        count = check.problem_count
        if self.pasted:
            fix = ngettext(
                "Fix it and paste the rows again.", "Fix them and paste the rows again.", count
            )
            where = "among the pasted rows"
        else:
            fix = ngettext(
                "Fix it and add the file again.", "Fix them and add the file again.", count
            )
            where = "in the file"
        return f"Nothing was imported: {check.bad_rows_in_words()} {where}. {fix}"

    # --- Import -------------------------------------------------------------------------

    def _import(self, check: FileCheck) -> ImportTotals:
        stage = self.stages["import"]
        totals = ImportTotals.from_json(self.checkpoint.get("import"))
        stage.start()
        stage.update(totals.rows_done, check.rows)
        if totals.rows_done < check.rows:
            if totals.rows_done:
                self.log(f"Going on from row {totals.rows_done + 1:,}, where the last run stopped.")

            def in_chunk(done: ImportTotals) -> None:
                self.checkpoint["import"] = done.as_json()
                self.save_checkpoint(self.checkpoint)

            try:
                with self.open_file() as binary:
                    totals = import_capture_rows(
                        self.deployment,
                        binary,
                        chunk_rows=self.chunk_rows,
                        totals=totals,
                        in_chunk=in_chunk,
                        progress=lambda done: stage.update(done, check.rows),
                        should_stop=self.should_stop,
                    )
            except CaptureFileError as error:
                self._refresh_counts()
                raise AddCapturesFailed(f"Import stopped: {error}.") from None
        stage.set_stats(**{"Added": totals.added, "Already there": totals.already_there})
        if totals.stopped:
            self._refresh_counts()
            of_rows = counted("%(count)s row", "%(count)s rows", check.rows)
            added = counted("%(count)s capture", "%(count)s captures", totals.added)
            raise AddCapturesStopped(
                f"Stopped at a safe point after {totals.rows_done:,} of {of_rows} ({added} "
                "added, not grouped yet). Retry goes on from there."
            )
        stage.finish()
        rows = counted("%(count)s row", "%(count)s rows", totals.rows_done)
        added = counted("%(count)s capture", "%(count)s captures", totals.added)
        self.log(f"Imported {rows}: {added} added, {totals.already_there:,} already there.")
        return totals

    # --- Group sessions -----------------------------------------------------------------

    def _group(self) -> RegroupSummary:
        stage = self.stages["group"]
        stage.start()
        waiting = False
        while True:
            try:
                summary = regroup_deployment(
                    self.deployment, progress=stage.update, should_stop=self.should_stop
                )
                break
            except DeploymentBusy:
                # Another regroup of this deployment (a Regroup job, the shell): wait for
                # it rather than fail, since it is grouping our captures too.
                if not waiting:
                    self.log(f"Waiting for another regroup of {self.deployment} to finish…")
                    waiting = True
                if self.should_stop():
                    raise AddCapturesStopped(
                        "Stopped while waiting for another regroup; the captures are added, "
                        "not grouped yet. Retry groups them."
                    ) from None
                time.sleep(LOCK_WAIT_SECONDS)
            except RegroupError as error:
                raise AddCapturesFailed(str(error), rejected=False) from None
        for warning in summary.warnings:
            self.log(warning, "WARNING")
        stage.set_stats(**summary.stats())
        if summary.stopped:
            of_captures = counted(
                "%(count)s capture", "%(count)s captures", summary.captures_to_group
            )
            raise AddCapturesStopped(
                f"Stopped at a safe point after grouping {summary.captures_grouped:,} of "
                f"{of_captures}. Retry groups the rest."
            )
        stage.finish()
        return summary

    # --- Refresh counts -----------------------------------------------------------------

    def _refresh(self) -> None:
        stage = self.stages["refresh"]
        stage.start()
        stage.update(0, 1)
        self._refresh_counts()
        stage.finish()

    def _refresh_counts(self) -> None:
        self.deployment.update_calculated_fields()

    def _result(
        self, check: FileCheck, totals: ImportTotals, summary: RegroupSummary
    ) -> AddCapturesResult:
        session_ids: list[int] = []
        sessions = 0
        if totals.first_id is not None:
            # The sessions the captures this import added are in.
            in_sessions = (
                SourceImage.objects.filter(
                    deployment=self.deployment,
                    pk__range=(totals.first_id, totals.last_id),
                    event__isnull=False,
                )
                .values_list("event_id", flat=True)
                # No ordering: the model's would make every capture a distinct row.
                .order_by()
                .distinct()
            )
            ids = set(in_sessions)
            sessions = len(ids)
            session_ids = list(
                self.deployment.events.filter(pk__in=ids)
                .order_by("start", "pk")
                .values_list("pk", flat=True)[:SESSIONS_LISTED]
            )
        return AddCapturesResult(
            rows=check.rows,
            added=totals.added,
            already_there=totals.already_there,
            undated=check.rows_undated,
            naive_timestamps=check.naive_timestamps,
            sessions=sessions,
            session_ids=session_ids,
            regroup=asdict(summary),
        )
