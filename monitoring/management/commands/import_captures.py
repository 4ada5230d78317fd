"""manage.py import_captures DEPLOYMENT_ID FILE.csv [--group]: add captures from a CSV file.

Without --group the captures are added ungrouped, as a raw sync would (what the
ungrouped-captures card is for); with it, the same stages as the Add captures job run here,
with a progress bar: check, import, group sessions, refresh counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from monitoring.capture_import import (
    STAGES,
    AddCaptures,
    AddCapturesFailed,
    AddCapturesStopped,
    added_in_words,
)
from monitoring.importing import CaptureFileError, check_capture_file, import_capture_rows
from monitoring.models import Deployment

SHOWN_PROBLEMS = 20
BAR_WIDTH = 30
REDRAW_SECONDS = 0.2


class Command(BaseCommand):
    help = (
        "Add captures from a CSV file with a header naming the columns path,timestamp "
        "(ISO 8601, may be empty) and optionally width,height. Without --group they are not "
        "grouped into sessions, as after a sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deployment_id", type=int)
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--group",
            action="store_true",
            help="Group the captures into sessions too, as the Add captures job does.",
        )

    def handle(self, *args, deployment_id: int, file: Path, group: bool, **options) -> None:
        deployment = Deployment.objects.filter(pk=deployment_id).first()
        if deployment is None:
            raise CommandError(f"There is no deployment with id {deployment_id}.")
        if deployment.project_id is None:
            raise CommandError(f"Deployment {deployment_id} belongs to no project.")
        try:
            if group:
                self._add_and_group(deployment, file)
            else:
                self._add_raw(deployment, file)
        except OSError as error:
            raise CommandError(f"Can't read {file}: {error.strerror}.") from None

    def _add_and_group(self, deployment: Deployment, file: Path) -> None:
        run = AddCaptures(
            deployment=deployment,
            open_file=lambda: file.open("rb"),
            stages={key: ProgressBar(self.stdout, name, unit) for key, name, unit in STAGES},
            log=lambda message, level="INFO": None,
            should_stop=lambda: False,
            chunk_rows=settings.CAPTURE_IMPORT_CHUNK_ROWS,
            lines=_count_lines(file),
        )
        try:
            result = run.run()
        except AddCapturesFailed as failed:
            raise CommandError(
                _with_problems(str(failed), failed.problems, failed.problem_count)
            ) from None
        except AddCapturesStopped as stopped:  # not asked from here, but said if it happens
            raise CommandError(str(stopped)) from None
        self.stdout.write(
            self.style.SUCCESS(added_in_words(result.added, result.already_there, result.sessions))
        )

    def _add_raw(self, deployment: Deployment, file: Path) -> None:
        try:
            with file.open("rb") as binary:
                check = check_capture_file(binary)
        except CaptureFileError as error:
            raise CommandError(f"Nothing was imported from {file}: {error}.") from None
        if not check.ok:
            raise CommandError(
                _with_problems(
                    f"Nothing was imported: {check.bad_rows_in_words()} in {file}.",
                    check.problems,
                    check.problem_count,
                )
            )
        with file.open("rb") as binary:
            totals = import_capture_rows(
                deployment, binary, chunk_rows=settings.CAPTURE_IMPORT_CHUNK_ROWS
            )
        deployment.update_calculated_fields(save=True)
        ungrouped = deployment.source_images_without_event_count
        self.stdout.write(
            ngettext(
                "Imported %(count)s capture into %(deployment)s (%(undated)s without a timestamp).",
                "Imported %(count)s captures into %(deployment)s "
                "(%(undated)s without a timestamp).",
                totals.added,
            )
            % {
                "count": f"{totals.added:,}",
                "deployment": deployment,
                "undated": f"{check.rows_undated:,}",
            }
        )
        if totals.already_there:
            self.stdout.write(
                ngettext(
                    "%(count)s row was skipped: its path is already in %(deployment)s.",
                    "%(count)s rows were skipped: their paths are already in %(deployment)s.",
                    totals.already_there,
                )
                % {"count": f"{totals.already_there:,}", "deployment": deployment}
            )
        if check.naive_timestamps:
            self.stdout.write(check.naive_in_words())
        not_yet = ngettext(
            "It is not grouped into a session yet",
            "They are not grouped into sessions yet",
            totals.added,
        )
        now_has = ngettext(
            "%(deployment)s now has %(count)s capture without a session.",
            "%(deployment)s now has %(count)s captures without a session.",
            ungrouped,
        ) % {"deployment": deployment, "count": f"{ungrouped:,}"}
        self.stdout.write(
            self.style.WARNING(
                f"{not_yet}: {now_has} Run `manage.py regroup {deployment.pk}`, click Regroup "
                "on its page, or add files with --group."
            )
        )


def _with_problems(message: str, problems: list[str], count: int) -> str:
    shown = problems[:SHOWN_PROBLEMS]
    more = count - len(shown)
    return "\n".join([message, *shown]) + (f"\n… and {more:,} more." if more else "")


def _count_lines(file: Path) -> int | None:
    """The file's lines, for the check's bar (a quick pass over its bytes)."""
    lines = 0
    with file.open("rb") as binary:
        while block := binary.read(1024 * 1024):
            lines += block.count(b"\n")
    return lines


class ProgressBar:
    """A stage's progress as a bar on the terminal, redrawn in place."""

    def __init__(self, out: TextIO, name: str, unit: str) -> None:
        self.out = out
        self.name = name
        self.unit = unit
        self.drawn = 0.0
        self.done = 0
        self.total = 0
        # Redrawn in place on a terminal only; a log gets one line per stage.
        self.interactive = out.isatty()

    def start(self) -> None:
        self.drawn = 0.0

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.interactive and time.monotonic() - self.drawn >= REDRAW_SECONDS:
            self.drawn = time.monotonic()
            self.out.write(f"\r{self._line()}", ending="")
            self.out.flush()

    def set_stats(self, **stats: int | str) -> None:
        self.stats = stats

    def finish(self) -> None:
        self.out.write(f"\r{self._line()}")

    def _line(self) -> str:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.name:<15} [{bar}] {self.done:,} of {self.total:,} {self.unit}"
