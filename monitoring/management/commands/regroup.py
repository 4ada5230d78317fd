"""manage.py regroup DEPLOYMENT_ID [--gap-seconds N] [--full]: regroup in the foreground."""

from __future__ import annotations

import argparse
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.grouping import RegroupError, RegroupMode, RegroupSummary, regroup_deployment
from monitoring.locks import DeploymentBusy
from monitoring.models import Deployment


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return number


class ProgressBar:
    """A one-line terminal progress bar, redrawn at most ten times a second."""

    width = 30

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last_drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last_drawn < 0.1:
            return
        self.last_drawn = now
        fraction = done / total if total else 1.0
        filled = round(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction:6.1%}  {done:,} of {total:,} captures")
        self.stream.flush()


class Command(BaseCommand):
    help = "Group a deployment's captures into monitoring sessions, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deployment_id", type=int)
        parser.add_argument(
            "--gap-seconds",
            type=positive_int,
            help="Start a new session after a gap this long (default: the project's setting).",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Redraw every night, not only around what changed since the sessions were "
            "drawn (that is done anyway when the settings differ from those they were drawn "
            "under).",
        )

    def handle(
        self, *args, deployment_id: int, gap_seconds: int | None, full: bool, **options
    ) -> None:
        deployment = Deployment.objects.select_related("project").filter(pk=deployment_id).first()
        if deployment is None:
            raise CommandError(f"There is no deployment with id {deployment_id}.")
        bar = ProgressBar(self.stdout)
        try:
            summary = regroup_deployment(
                deployment, gap_seconds=gap_seconds, full=full, progress=bar
            )
        except DeploymentBusy:
            raise CommandError(
                f"A regroup of deployment {deployment_id} is already running; try again when "
                "it has finished."
            ) from None
        except RegroupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write("")
        self.print_summary(deployment, summary)

    def print_summary(self, deployment: Deployment, summary: RegroupSummary) -> None:
        for warning in summary.warnings:
            self.stderr.write(self.style.WARNING(warning))
        if summary.mode == RegroupMode.FULL:
            mode = f"full, every night ({summary.full_because})"
        else:
            mode = "incremental, only around what changed since the sessions were drawn"
        lines = [
            f"Regrouped {deployment} (gap {summary.gap_seconds:,} s)",
            f"  mode:                       {mode}",
            f"  captures read:              {summary.captures_read:,}",
            f"  captures grouped:           {summary.captures_grouped:,}",
            f"  captures without timestamp: {summary.captures_without_timestamp:,}"
            f" ({summary.undated_captures_taken_out:,} taken out of their session)",
            f"  duplicate timestamps:       {summary.duplicate_timestamps:,}",
            f"  sessions created:           {summary.sessions_created:,}",
            f"  sessions updated:           {summary.sessions_updated:,}",
            f"  sessions deleted:           {summary.sessions_deleted:,}",
            f"  sessions now:               {summary.sessions_total:,}",
            f"  occurrences re-linked:      {summary.occurrences_relinked:,}",
            f"  captures still ungrouped:   {deployment.source_images_without_event_count:,}",
        ]
        self.stdout.write("\n".join(lines))
        if summary.wrote_nothing:
            self.stdout.write(self.style.SUCCESS("Nothing changed: the sessions were right."))
