"""manage.py import_captures DEPLOYMENT_ID FILE.csv: add captures without grouping them."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.importing import CaptureFileError, import_capture_file
from monitoring.models import Deployment

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Import captures from a CSV file with the columns path,timestamp (ISO 8601, may be "
        "empty). They are not grouped into sessions, as after a sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("deployment_id", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args, deployment_id: int, file: Path, **options) -> None:
        deployment = Deployment.objects.filter(pk=deployment_id).first()
        if deployment is None:
            raise CommandError(f"There is no deployment with id {deployment_id}.")
        if deployment.project_id is None:
            raise CommandError(f"Deployment {deployment_id} belongs to no project.")
        try:
            with file.open(newline="", encoding="utf-8") as lines:
                captures = import_capture_file(deployment, lines)
        except OSError as error:
            raise CommandError(f"Can't read {file}: {error.strerror}.") from None
        except CaptureFileError as error:
            shown = error.problems[:SHOWN_PROBLEMS]
            more = len(error.problems) - len(shown)
            raise CommandError(
                f"Nothing was imported: {len(error.problems):,} bad row(s) in {file}.\n"
                + "\n".join(shown)
                + (f"\n… and {more:,} more." if more else "")
            ) from None

        undated = sum(capture.timestamp is None for capture in captures)
        self.stdout.write(
            f"Imported {len(captures):,} captures into {deployment} "
            f"({undated:,} without a timestamp)."
        )
        self.stdout.write(
            self.style.WARNING(
                f"They are not grouped into sessions yet: {deployment} now has "
                f"{deployment.source_images_without_event_count:,} captures without a session. "
                f"Run `manage.py regroup {deployment.pk}` or click Regroup on its page."
            )
        )
