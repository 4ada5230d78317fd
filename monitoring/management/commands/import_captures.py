"""manage.py import_captures DEPLOYMENT_ID FILE.csv: add captures without grouping them."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from monitoring.importing import CaptureFileError, EmptyCaptureFile, import_capture_file
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
            # utf-8-sig: spreadsheets often start their UTF-8 files with a byte-order mark.
            with file.open(newline="", encoding="utf-8-sig") as lines:
                captures = import_capture_file(deployment, lines)
        except OSError as error:
            raise CommandError(f"Can't read {file}: {error.strerror}.") from None
        except EmptyCaptureFile:
            raise CommandError(f"Nothing was imported: {file} has no rows to import.") from None
        except CaptureFileError as error:
            shown = error.problems[:SHOWN_PROBLEMS]
            more = len(error.problems) - len(shown)
            bad = ngettext("%(count)s bad row", "%(count)s bad rows", len(error.problems)) % {
                "count": f"{len(error.problems):,}"
            }
            raise CommandError(
                f"Nothing was imported: {bad} in {file}.\n"
                + "\n".join(shown)
                + (f"\n… and {more:,} more." if more else "")
            ) from None

        imported = len(captures)
        undated = sum(capture.timestamp is None for capture in captures)
        ungrouped = deployment.source_images_without_event_count
        self.stdout.write(
            ngettext(
                "Imported %(count)s capture into %(deployment)s (%(undated)s without a timestamp).",
                "Imported %(count)s captures into %(deployment)s "
                "(%(undated)s without a timestamp).",
                imported,
            )
            % {"count": f"{imported:,}", "deployment": deployment, "undated": f"{undated:,}"}
        )
        not_yet = ngettext(
            "It is not grouped into a session yet",
            "They are not grouped into sessions yet",
            imported,
        )
        now_has = ngettext(
            "%(deployment)s now has %(count)s capture without a session.",
            "%(deployment)s now has %(count)s captures without a session.",
            ungrouped,
        ) % {"deployment": deployment, "count": f"{ungrouped:,}"}
        self.stdout.write(
            self.style.WARNING(
                f"{not_yet}: {now_has} "
                f"Run `manage.py regroup {deployment.pk}` or click Regroup on its page."
            )
        )
