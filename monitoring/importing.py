"""Import captures from a CSV file, without grouping them, as a sync would.

The file has the columns `path,timestamp` (a header row is optional); the timestamp is
ISO 8601 or empty. Every row is checked before anything is written, against what the
columns can hold too (so the database never refuses a row halfway), and the rows are
written in one transaction, so a bad file imports nothing; a file with no rows is refused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Deployment, SourceImage

HEADER = ["path", "timestamp"]
BATCH_SIZE = 5_000
NO_ROWS = "no rows to import"
PATH_MAX_LENGTH: int = SourceImage._meta.get_field("path").max_length
# Timestamps are stored in UTC and read back as Python datetimes (years 1 to 9999), and a
# capture's night and session reach up to a day either side of it: keep a day's margin.
EARLIEST_TIMESTAMP = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_TIMESTAMP = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
TIMESTAMP_RANGE = f"{EARLIEST_TIMESTAMP.date().isoformat()} to {LATEST_TIMESTAMP.date()}, UTC"


class CaptureFileError(Exception):
    """The file can't be imported; `problems` lists each bad row with its line number."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class EmptyCaptureFile(CaptureFileError):
    """The file has no rows to import (it is empty, or holds only a header or blank lines)."""

    def __init__(self) -> None:
        super().__init__([NO_ROWS])


@dataclass(frozen=True)
class CaptureRow:
    path: str
    timestamp: datetime | None


def read_capture_rows(lines: Iterable[str]) -> list[CaptureRow]:
    """Parse and check every row; raise CaptureFileError listing all the bad ones."""
    rows: list[CaptureRow] = []
    problems: list[str] = []
    reader = csv.reader(lines)
    try:
        for record in reader:
            line = reader.line_num
            if line == 1 and [cell.strip().lower() for cell in record] == HEADER:
                continue
            if not any(cell.strip() for cell in record):
                continue
            row, problem = _parse(record)
            if problem:
                problems.append(f"line {line}: {problem}")
            else:
                rows.append(row)
    except (csv.Error, UnicodeDecodeError) as error:
        problems.append(f"line {reader.line_num + 1}: not readable as CSV text ({error})")
    if problems:
        raise CaptureFileError(problems)
    if not rows:
        raise EmptyCaptureFile()
    return rows


def _parse(record: list[str]) -> tuple[CaptureRow | None, str | None]:
    if len(record) != 2:
        return None, f"expected 2 columns (path,timestamp), found {len(record)}"
    path, raw_timestamp = (cell.strip() for cell in record)
    if not path:
        return None, "the path is empty"
    if "\x00" in path:
        return None, "the path contains a NUL character, which can't be stored"
    if len(path) > PATH_MAX_LENGTH:
        return None, (f"the path is {len(path):,} characters long; at most {PATH_MAX_LENGTH:,} fit")
    if not raw_timestamp:
        return CaptureRow(path, None), None
    try:
        timestamp = parse_datetime(raw_timestamp)
    except ValueError:
        timestamp = None
    if timestamp is None:
        return None, f"{raw_timestamp!r} is not an ISO 8601 date and time"
    if timezone.is_naive(timestamp):
        # Camera clocks without a zone are taken as UTC, the platform's storage zone.
        timestamp = timestamp.replace(tzinfo=UTC)
    if not _storable(timestamp):
        return (
            None,
            f"{raw_timestamp!r} is outside the dates a capture can have ({TIMESTAMP_RANGE})",
        )
    return CaptureRow(path, timestamp), None


def _storable(timestamp: datetime) -> bool:
    try:
        in_utc = timestamp.astimezone(UTC)
    except OverflowError:  # its UTC time is before year 1 or after year 9999
        return False
    return EARLIEST_TIMESTAMP <= in_utc <= LATEST_TIMESTAMP


def import_capture_file(deployment: Deployment, file: TextIO) -> list[SourceImage]:
    """Add the file's captures to the deployment, ungrouped; all of them or none."""
    rows = read_capture_rows(file)
    with transaction.atomic():
        captures = SourceImage.objects.bulk_create(
            (
                SourceImage(
                    deployment=deployment,
                    project_id=deployment.project_id,
                    path=row.path,
                    timestamp=row.timestamp,
                )
                for row in rows
            ),
            batch_size=BATCH_SIZE,
        )
        deployment.update_calculated_fields(save=True)
    return captures
