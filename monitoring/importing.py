"""Captures from a CSV file: read and check it as a stream, then add its rows in chunks.

The one reader of capture files, for `manage.py import_captures` and the Add captures job.
The file is UTF-8 text (a byte-order mark is accepted, line endings may be Windows'), with
a header naming the columns `path,timestamp` and optionally `width,height`, in any order.
A timestamp is ISO 8601 or empty; one without a time zone is taken as UTC.

`check_capture_file` reads every row without keeping any (memory does not grow with the
file) and returns what it found: the rows, the bad ones with their line numbers and
reasons. `import_capture_rows` then adds the rows in chunks, each one transaction; a path
already in the deployment is skipped and counted, so a rerun after a stop adds only what
is missing. Neither groups captures into sessions: that is the regroup engine's work.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import ngettext

from .models import PATH_START_LENGTH, Deployment, PathStart, SourceImage

REQUIRED_COLUMNS = ("path", "timestamp")
OPTIONAL_COLUMNS = ("width", "height")
COLUMNS_IN_WORDS = "path,timestamp (and optionally width,height)"
PATH_MAX_LENGTH: int = SourceImage._meta.get_field("path").max_length
# The longest line a row can need: a path of PATH_MAX_LENGTH four-byte characters, with
# room for quotes, a timestamp and sizes. A longer line is refused without being held.
LINE_MAX_BYTES = 8 * 1024
READ_BLOCK_BYTES = 64 * 1024
# A PositiveIntegerField holds this much on every database.
SIZE_MAX = 2_147_483_647
# A camera clock set years ahead is a mistake, not a capture.
FUTURE_LIMIT = timedelta(days=365)
# Timestamps are stored in UTC and read back as Python datetimes (years 1 to 9999), and a
# capture's night and session reach up to a day either side of it: keep a day's margin.
EARLIEST_TIMESTAMP = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_TIMESTAMP = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
TIMESTAMP_RANGE = f"{EARLIEST_TIMESTAMP.date().isoformat()} to {LATEST_TIMESTAMP.date()}, UTC"
# Bad rows kept word for word; beyond these, only counted (a file of a million bad rows
# must not fill the memory or the job's log).
PROBLEMS_KEPT = 200
# Keys the advisory lock imports into one deployment take turns on (PostgreSQL).
IMPORT_LOCK_NAMESPACE = 71_002
CHECK_STOP_EVERY_LINES = 10_000
ZIP_MAGIC = b"PK\x03\x04"

Progress = Callable[[int], None]
StopCheck = Callable[[], bool]


class CaptureFileError(Exception):
    """The file as a whole can't be imported (no header, not text, over a limit): the
    message says why, for people, as a clause ("the file is empty")."""


class EmptyCaptureFile(CaptureFileError):
    """The file has no rows to import; the message says what it has instead."""


@dataclass(frozen=True)
class CaptureRow:
    line: int
    path: str
    timestamp: datetime | None
    width: int | None = None
    height: int | None = None
    # The timestamp had no time zone and was taken as UTC.
    naive: bool = False


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line:,}: {self.reason}"


@dataclass
class FileCheck:
    """What checking a file found."""

    rows: int = 0
    rows_undated: int = 0
    naive_timestamps: int = 0
    first_naive_line: int | None = None
    # The first PROBLEMS_KEPT bad rows, in words; `problem_count` counts them all.
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    lines: int = 0
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return not self.problem_count

    def add_problem(self, problem: RowProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(str(problem))

    def bad_rows_in_words(self) -> str:
        return ngettext("%(count)s bad row", "%(count)s bad rows", self.problem_count) % {
            "count": f"{self.problem_count:,}"
        }

    def naive_in_words(self) -> str:
        """The sentence that says some timestamps were taken as UTC, or ""."""
        if not self.naive_timestamps:
            return ""
        return ngettext(
            "%(count)s timestamp had no time zone and was taken as UTC (line %(line)s).",
            "%(count)s timestamps had no time zone and were taken as UTC "
            "(the first on line %(line)s).",
            self.naive_timestamps,
        ) % {"count": f"{self.naive_timestamps:,}", "line": f"{self.first_naive_line:,}"}


@dataclass
class ImportTotals:
    """How far adding a file's rows has got; saved after each chunk, so a rerun goes on."""

    rows_done: int = 0
    added: int = 0
    already_there: int = 0
    # The first and last capture ids added: the captures this import added.
    first_id: int | None = None
    last_id: int | None = None
    stopped: bool = False

    def as_json(self) -> dict[str, int | None]:
        return {
            "rows_done": self.rows_done,
            "added": self.added,
            "already_there": self.already_there,
            "first_id": self.first_id,
            "last_id": self.last_id,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> ImportTotals:
        data = data or {}
        return cls(
            rows_done=data.get("rows_done") or 0,
            added=data.get("added") or 0,
            already_there=data.get("already_there") or 0,
            first_id=data.get("first_id"),
            last_id=data.get("last_id"),
        )


def check_capture_file(
    binary: BinaryIO,
    *,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> FileCheck:
    """Read every row of the file and return what was found, keeping no row.

    Raises CaptureFileError when the file as a whole is unusable (not text, no header, over
    `max_bytes` or `max_rows`) and EmptyCaptureFile when it has no rows; bad rows are listed
    in the result. `progress` is called with the lines read so far, now and then.
    """
    check = FileCheck()
    reader = _CaptureReader(binary, max_bytes=max_bytes, now=now)
    for item in reader:
        if isinstance(item, RowProblem):
            check.add_problem(item)
        else:
            check.rows += 1
            check.rows_undated += item.timestamp is None
            if item.naive:
                check.naive_timestamps += 1
                check.first_naive_line = check.first_naive_line or item.line
            if max_rows is not None and check.rows > max_rows:
                raise CaptureFileError(
                    f"the file has more than {max_rows:,} rows; at most {max_rows:,} can be "
                    "added at once, so split it into smaller files"
                )
        if reader.lines - check.lines >= CHECK_STOP_EVERY_LINES:
            check.lines = reader.lines
            if progress:
                progress(check.lines)
            if should_stop and should_stop():
                check.stopped = True
                return check
    check.lines = reader.lines
    if progress:
        progress(check.lines)
    if not check.rows and not check.problem_count:
        if not reader.bytes_read:
            raise EmptyCaptureFile("the file is empty")
        raise EmptyCaptureFile(
            "the file has a header but no rows"
            if reader.header_line
            else "the file has only blank lines"
        )
    return check


def import_capture_rows(
    deployment: Deployment,
    binary: BinaryIO,
    *,
    chunk_rows: int,
    totals: ImportTotals | None = None,
    in_chunk: Callable[[ImportTotals], None] | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: StopCheck | None = None,
) -> ImportTotals:
    """Add a checked file's rows to the deployment, ungrouped, `chunk_rows` at a time.

    Each chunk is one transaction, and `in_chunk(totals)` runs inside it, so whatever it
    saves (a job's checkpoint) is exactly what was committed. `totals` from an earlier,
    stopped run skips the rows it had done. A path already in the deployment (or earlier in
    the file) is skipped and counted. Stops between chunks when `should_stop()` says so.
    Raises CaptureFileError if the file has a bad row after all (it changed since checked).
    """
    totals = totals or ImportTotals()
    totals.stopped = False
    rows_seen = 0
    chunk: list[CaptureRow] = []
    for item in _CaptureReader(binary):
        if isinstance(item, RowProblem):
            raise CaptureFileError(f"the file changed since it was checked ({item})")
        rows_seen += 1
        if rows_seen <= totals.rows_done:
            continue
        chunk.append(item)
        if len(chunk) >= chunk_rows:
            _add_chunk(deployment, chunk, totals, in_chunk)
            chunk = []
            if progress:
                progress(totals.rows_done)
            if should_stop and should_stop():
                totals.stopped = True
                return totals
    if chunk:
        _add_chunk(deployment, chunk, totals, in_chunk)
        if progress:
            progress(totals.rows_done)
    return totals


def _add_chunk(
    deployment: Deployment,
    chunk: list[CaptureRow],
    totals: ImportTotals,
    in_chunk: Callable[[ImportTotals], None] | None,
) -> None:
    new: dict[str, CaptureRow] = {}
    for row in chunk:
        new.setdefault(row.path, row)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            added, first_id, last_id = _insert_new_postgresql(deployment, list(new.values()))
        else:
            added, first_id, last_id = _insert_new(deployment, list(new.values()))
        if added:
            totals.first_id = min(first_id, totals.first_id or first_id)
            totals.last_id = max(last_id, totals.last_id or last_id)
        totals.rows_done += len(chunk)
        totals.added += added
        totals.already_there += len(chunk) - added
        if in_chunk:
            in_chunk(totals)


# One statement per chunk: the rows go in as arrays, each is looked up in the deployment
# by one probe of the (deployment, path start) index (a LATERAL subquery with LIMIT is
# always a nested loop, whatever the table's statistics say), the missing ones are
# inserted, and only their count and id range come back.
_INSERT_NEW_SQL = f"""
WITH new AS (
    SELECT incoming.path, incoming.timestamp, incoming.width, incoming.height
    FROM unnest(%(paths)s::text[], %(timestamps)s::timestamptz[], %(widths)s::integer[],
                %(heights)s::integer[]) AS incoming(path, timestamp, width, height)
    LEFT JOIN LATERAL (
        SELECT 1 AS found FROM {SourceImage._meta.db_table} AS capture
        WHERE capture.deployment_id = %(deployment)s
          AND SUBSTR(capture.path, 1, {PATH_START_LENGTH})
              = SUBSTR(incoming.path, 1, {PATH_START_LENGTH})
          AND capture.path = incoming.path
        LIMIT 1
    ) AS there ON true
    WHERE there.found IS NULL
), added AS (
    INSERT INTO {SourceImage._meta.db_table}
        (deployment_id, project_id, path, timestamp, width, height)
    SELECT %(deployment)s, %(project)s, path, timestamp, width, height FROM new
    RETURNING id
)
SELECT count(*), min(id), max(id) FROM added
"""


def _insert_new_postgresql(
    deployment: Deployment, rows: list[CaptureRow]
) -> tuple[int, int | None, int | None]:
    with connection.cursor() as cursor:
        # Imports into one deployment take turns chunk by chunk (the raw command takes no
        # upload lock), so two of them can't both find a path missing and both add it.
        # The insert's snapshot is taken after the lock, so it sees the other's rows.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_NAMESPACE, deployment.pk]
        )
        cursor.execute(
            _INSERT_NEW_SQL,
            {
                "paths": [row.path for row in rows],
                "timestamps": [row.timestamp for row in rows],
                "widths": [row.width for row in rows],
                "heights": [row.height for row in rows],
                "deployment": deployment.pk,
                "project": deployment.project_id,
            },
        )
        return cursor.fetchone()


def _insert_new(
    deployment: Deployment, rows: list[CaptureRow]
) -> tuple[int, int | None, int | None]:
    """SQLite: its transactions here begin IMMEDIATE, holding the database's write lock, so
    imports take turns chunk by chunk without more; its planner uses the path index for the
    IN list whatever it knows of the table."""
    present = set(
        SourceImage.objects.filter(deployment=deployment)
        .alias(path_start=PathStart("path"))
        .filter(path_start__in={row.path[:PATH_START_LENGTH] for row in rows})
        .values_list("path", flat=True)
        .iterator()
    )
    created = SourceImage.objects.bulk_create(
        [
            SourceImage(
                deployment=deployment,
                project_id=deployment.project_id,
                path=row.path,
                timestamp=row.timestamp,
                width=row.width,
                height=row.height,
            )
            for row in rows
            if row.path not in present
        ]
    )
    ids = [capture.pk for capture in created]
    return len(ids), min(ids, default=None), max(ids, default=None)


class _Blocks(io.RawIOBase):
    """Any file with `read(size)` (a local file, a storage's remote one) as a raw stream,
    so a BufferedReader can hand it out line by line, a bounded length at a time."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 (memoryview or bytearray)
        data = self.file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _CaptureReader:
    """The rows of a capture file, each a CaptureRow or a RowProblem, in file order."""

    def __init__(
        self, binary: BinaryIO, *, max_bytes: int | None = None, now: datetime | None = None
    ) -> None:
        self.stream = io.BufferedReader(_Blocks(binary), buffer_size=READ_BLOCK_BYTES)
        self.max_bytes = max_bytes
        self.latest = (now or timezone.now()) + FUTURE_LIMIT
        self.lines = 0
        self.bytes_read = 0
        self.header_line = 0
        self.columns: dict[str, int] = {}
        # Problems found below the CSV layer (bytes, lengths), reported at their line.
        self.pending: list[RowProblem] = []

    def __iter__(self) -> Iterator[CaptureRow | RowProblem]:
        reader = csv.reader(self._text_lines())
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                yield from self._drain()
                yield RowProblem(self.lines, f"not readable as CSV ({error})")
                continue
            yield from self._drain()
            if not any(cell.strip() for cell in record):
                continue
            if not self.header_line:
                self._read_header(record)
                continue
            yield self._parse(record)
        yield from self._drain()

    def _drain(self) -> Iterator[RowProblem]:
        yield from self.pending
        self.pending.clear()

    def _text_lines(self) -> Iterator[str]:
        """The file's lines as text, one physical line each, so the CSV reader's line count
        is the file's. A line that is too long or not UTF-8 becomes an empty line and a
        problem at its number."""
        while True:
            raw = self.stream.readline(LINE_MAX_BYTES + 1)
            if not raw:
                return
            self.lines += 1
            length = len(raw)
            if length > LINE_MAX_BYTES and not raw.endswith(b"\n"):
                # Read past the rest of the line a block at a time, holding none of it.
                while rest := self.stream.readline(READ_BLOCK_BYTES):
                    length += len(rest)
                    if rest.endswith(b"\n"):
                        break
            self.bytes_read += length
            if self.max_bytes is not None and self.bytes_read > self.max_bytes:
                raise CaptureFileError(
                    f"the file is over the limit of {megabytes(self.max_bytes)}, so split "
                    "it into smaller files"
                )
            if self.lines == 1:
                self._refuse_if_not_text(raw)
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if length > LINE_MAX_BYTES:
                self.pending.append(
                    RowProblem(
                        self.lines,
                        f"the line is {length:,} bytes long; a row holds at most "
                        f"{LINE_MAX_BYTES:,} (a path at most {PATH_MAX_LENGTH:,} characters)",
                    )
                )
                yield "\n"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.pending.append(
                    RowProblem(
                        self.lines,
                        f"byte 0x{raw[error.start]:02x} at character {error.start + 1} is "
                        "not UTF-8 text; save the file as CSV UTF-8",
                    )
                )
                yield "\n"
                continue
            yield text

    def _refuse_if_not_text(self, first_line: bytes) -> None:
        if first_line.startswith(ZIP_MAGIC):
            raise CaptureFileError(
                "this is a zip file or a spreadsheet (.xlsx), not CSV text: save it as "
                "CSV UTF-8 and add that"
            )
        try:
            text = first_line.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        except UnicodeDecodeError:
            text = "\x00"
        if "\x00" in text:
            raise CaptureFileError(
                "this is not a CSV text file: its first line holds bytes that aren't UTF-8 "
                f"text (the file must be CSV UTF-8 with the columns {COLUMNS_IN_WORDS})"
            )

    def _read_header(self, record: list[str]) -> None:
        self.header_line = self.lines
        names = [cell.strip().lower() for cell in record]
        line = f"line {self.lines:,}"
        if names and names[0] not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
            found = ",".join(record)[:80]
            raise CaptureFileError(
                f"{line}: the first line must be the header {COLUMNS_IN_WORDS}; found {found!r}"
            )
        unknown = [name for name in names if name not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
        if unknown:
            raise CaptureFileError(
                f"{line}: unknown column {unknown[0][:80]!r}; the columns are {COLUMNS_IN_WORDS}"
            )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise CaptureFileError(f"{line}: the column {repeated[0]!r} is named twice")
        missing = [name for name in REQUIRED_COLUMNS if name not in names]
        if missing:
            raise CaptureFileError(
                f"{line}: the header has no {missing[0]!r} column; the columns are "
                f"{COLUMNS_IN_WORDS}"
            )
        self.columns = {name: index for index, name in enumerate(names)}

    def _parse(self, record: list[str]) -> CaptureRow | RowProblem:
        line = self.lines
        if len(record) != len(self.columns):
            header = ",".join(self.columns)
            return RowProblem(
                line, f"expected {len(self.columns)} columns ({header}), found {len(record)}"
            )
        cells = {name: record[index].strip() for name, index in self.columns.items()}
        path = cells["path"]
        if not path:
            return RowProblem(line, "the path is empty")
        if "\x00" in path:
            return RowProblem(line, "the path contains a NUL character, which can't be stored")
        if len(path) > PATH_MAX_LENGTH:
            return RowProblem(
                line,
                f"the path is {len(path):,} characters long; at most {PATH_MAX_LENGTH:,} fit",
            )
        sizes: dict[str, int | None] = {}
        for name in OPTIONAL_COLUMNS:
            raw = cells.get(name, "")
            if not raw:
                sizes[name] = None
            elif raw.isascii() and raw.isdigit() and 0 < int(raw) <= SIZE_MAX:
                sizes[name] = int(raw)
            else:
                return RowProblem(
                    line, f"the {name} {raw[:40]!r} is not a whole number of pixels above 0"
                )
        raw_timestamp = cells["timestamp"]
        if not raw_timestamp:
            return CaptureRow(line, path, None, **sizes)
        try:
            timestamp = parse_datetime(raw_timestamp)
        except ValueError:
            timestamp = None
        if timestamp is None:
            return RowProblem(line, f"{raw_timestamp[:80]!r} is not an ISO 8601 date and time")
        naive = timezone.is_naive(timestamp)
        if naive:
            # Camera clocks without a zone are taken as UTC, the platform's storage zone.
            timestamp = timestamp.replace(tzinfo=UTC)
        if not _storable(timestamp):
            return RowProblem(
                line,
                f"{raw_timestamp!r} is outside the dates a capture can have ({TIMESTAMP_RANGE})",
            )
        if timestamp > self.latest:
            return RowProblem(
                line,
                f"{raw_timestamp!r} is more than a year in the future; is the camera's clock "
                "set right?",
            )
        return CaptureRow(line, path, timestamp, naive=naive, **sizes)


def _storable(timestamp: datetime) -> bool:
    try:
        in_utc = timestamp.astimezone(UTC)
    except OverflowError:  # its UTC time is before year 1 or after year 9999
        return False
    return EARLIEST_TIMESTAMP <= in_utc <= LATEST_TIMESTAMP


def megabytes(size: int) -> str:
    """A file size for people: "100 MB"."""
    return f"{size / 1024 / 1024:,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"
