"""The one reader of capture files: every bad input the Add captures job and import_captures
refuse, each with a precise, line-numbered message; and the chunked import's skips."""

from __future__ import annotations

import contextlib
import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.importing import (
    LINE_MAX_BYTES,
    PATH_START_LENGTH,
    CaptureFileError,
    EmptyCaptureFile,
    FileCheck,
    ImportTotals,
    RowProblem,
    check_capture_file,
    import_capture_rows,
)
from monitoring.models import Deployment, SourceImage


def check(content: bytes, **limits) -> FileCheck:
    return check_capture_file(io.BytesIO(content), **limits)


def refusal(content: bytes, **limits) -> str:
    with pytest.raises(CaptureFileError) as error:
        check(content, **limits)
    return str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"path,timestamp\n", "the file has a header but no rows"),
        (b"\r\n\r\n", "the file has only blank lines"),
        (
            b"a.jpg,2024-06-01T21:00:00Z\n",
            "line 1: the first line must be the header path,timestamp (and optionally "
            "width,height); found 'a.jpg,2024-06-01T21:00:00Z'",
        ),
        (
            b"path,time\na.jpg,2024-06-01T21:00:00Z\n",
            "line 1: unknown column 'time'; the columns are path,timestamp (and optionally "
            "width,height)",
        ),
        (
            b"path,width\na.jpg,10\n",
            "line 1: the header has no 'timestamp' column; the columns are path,timestamp "
            "(and optionally width,height)",
        ),
        (b"path,path,timestamp\n", "line 1: the column 'path' is named twice"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "this is not a CSV text file: its first line holds bytes that aren't UTF-8 text "
            "(the file must be CSV UTF-8 with the columns path,timestamp (and optionally "
            "width,height))",
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00",
            "this is a zip file or a spreadsheet (.xlsx), not CSV text: save it as CSV UTF-8 "
            "and add that",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "blank-lines",
        "missing-header",
        "wrong-header",
        "header-without-timestamp",
        "repeated-column",
        "an-image",
        "a-spreadsheet",
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(content, message):
    assert refusal(content) == message


def test_an_empty_file_is_its_own_kind_of_refusal():
    with pytest.raises(EmptyCaptureFile):
        check(b"")


def test_a_file_over_the_byte_limit_is_refused_while_reading():
    rows = b"".join(b"night/%06d.jpg,2024-06-01T21:00:00Z\n" % n for n in range(1000))

    assert refusal(b"path,timestamp\n" + rows, max_bytes=10_000) == (
        "the file is over the limit of 10,000 bytes, so split it into smaller files"
    )


def test_a_file_over_the_row_limit_is_refused():
    rows = b"".join(b"%d.jpg,\n" % n for n in range(11))

    assert refusal(b"path,timestamp\n" + rows, max_rows=10) == (
        "the file has more than 10 rows; at most 10 can be added at once, so split it into "
        "smaller files"
    )


def test_bad_rows_are_all_listed_with_their_lines_and_good_ones_counted():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    content = (
        "path,timestamp,width,height\r\n"
        "good.jpg,2025-06-01T21:00:00Z,4000,3000\r\n"
        "latin.jpg,2025-06-01T21:00:00Z,,\r\n".replace("latin", "caf\udce9").encode(
            "utf-8", "surrogateescape"
        )
        + b"future.jpg,2027-01-02T00:00:00Z,,\r\n"
        b"wide.jpg,2025-06-01T21:00:00Z,-3,\r\n"
        b"short.jpg,2025-06-01T21:00:00Z\r\n"
        b"huge" + b"x" * (10 * 1024 * 1024) + b",2025-06-01T21:00:00Z,,\r\n"
        b"naive.jpg,2025-06-01 21:00:00,,\r\n"
        b"undated.jpg,,,\r\n"
    )

    found = check_capture_file(io.BytesIO(content), now=now)

    assert found.problems == [
        "line 3: byte 0xe9 at character 4 is not UTF-8 text; save the file as CSV UTF-8",
        "line 4: '2027-01-02T00:00:00Z' is more than a year in the future; is the camera's "
        "clock set right?",
        "line 5: the width '-3' is not a whole number of pixels above 0",
        "line 6: expected 4 columns (path,timestamp,width,height), found 2",
        f"line 7: the line is 10,485,789 bytes long; a row holds at most {LINE_MAX_BYTES:,} "
        "(a path at most 1,024 characters)",
    ]
    assert (found.rows, found.rows_undated, found.problem_count) == (3, 1, 5)
    assert found.naive_in_words() == ("1 timestamp had no time zone and was taken as UTC (line 8).")


def test_a_byte_order_mark_and_windows_line_endings_are_read_as_any_file():
    found = check(b"\xef\xbb\xbfPath,Timestamp\r\na.jpg,2024-06-01T21:00:00+02:00\r\n")

    assert (found.ok, found.rows, found.naive_timestamps) == (True, 1, 0)


def test_a_quoted_path_may_hold_commas():
    found = check(b'path,timestamp\n"night 1, cam 2/a.jpg",2024-06-01T21:00:00Z\n')

    assert (found.ok, found.rows) == (True, 1)


def test_many_bad_rows_are_counted_and_only_the_first_kept():
    rows = b"".join(b",2024-06-01T21:00:00Z\n" for _ in range(1000))

    found = check(b"path,timestamp\n" + rows)

    assert found.problem_count == 1000
    assert len(found.problems) == 200
    assert found.bad_rows_in_words() == "1,000 bad rows"
    assert str(RowProblem(12_345, "the path is empty")) == "line 12,345: the path is empty"


@pytest.mark.django_db
def test_import_skips_paths_already_there_or_repeated_and_goes_on_after_a_stop(deployment):
    SourceImage.objects.create(deployment=deployment, project=deployment.project, path="b.jpg")
    content = (
        b"path,timestamp\na.jpg,2024-06-01T21:00:00Z\nb.jpg,2024-06-01T21:01:00Z\n"
        b"a.jpg,2024-06-01T21:02:00Z\nc.jpg,\nd.jpg,2024-06-01T21:03:00Z\n"
    )
    saved = []

    first = import_capture_rows(
        deployment,
        io.BytesIO(content),
        chunk_rows=2,
        in_chunk=lambda totals: saved.append(totals.as_json()),
        should_stop=lambda: True,
    )
    assert (first.stopped, first.rows_done, first.added, first.already_there) == (True, 2, 1, 1)
    assert saved == [first.as_json()]

    rest = import_capture_rows(deployment, io.BytesIO(content), chunk_rows=2, totals=first)

    assert (rest.stopped, rest.rows_done, rest.added, rest.already_there) == (False, 5, 3, 2)
    paths = SourceImage.objects.filter(deployment=deployment).values_list("path", flat=True)
    assert sorted(paths) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert SourceImage.objects.filter(pk__range=(rest.first_id, rest.last_id)).count() == 3


@pytest.mark.django_db
def test_paths_alike_in_their_first_characters_are_told_apart(deployment, project):
    """The lookup goes through the paths' first PATH_START_LENGTH characters: two paths that
    share them are still two captures, and one already there is still skipped."""
    start = "night/" + "x" * PATH_START_LENGTH
    SourceImage.objects.create(deployment=deployment, project=project, path=start + "/a.jpg")
    # The same path in another deployment is not this one's.
    other = Deployment.objects.create(project=project, name="Station B")
    SourceImage.objects.create(deployment=other, project=project, path=start + "/b.jpg")
    content = (
        f"path,timestamp,width,height\n{start}/a.jpg,2024-06-01T21:00:00Z,,\n"
        f"{start}/b.jpg,2024-06-01T21:01:00Z,4000,3000\n{start}/b.jpg,,,\n"
        f"{start}/c.jpg,,,\n{start}/a.jpg,,,\n{start}/c.jpg,,,\n"
    ).encode()

    totals = import_capture_rows(deployment, io.BytesIO(content), chunk_rows=2)

    assert (totals.rows_done, totals.added, totals.already_there) == (6, 2, 4)
    added = SourceImage.objects.filter(deployment=deployment, pk__gt=totals.first_id - 1)
    assert sorted(added.values_list("path", "timestamp", "width", "height")) == [
        (f"{start}/b.jpg", datetime(2024, 6, 1, 21, 1, tzinfo=UTC), 4000, 3000),
        (f"{start}/c.jpg", None, None, None),
    ]
    assert deployment.captures.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_add_each_path_once(deployment):
    """The raw command takes no upload lock: two imports may run into one deployment at
    once, and still no path is added twice."""
    content = ("path,timestamp\n" + "".join(f"{n:03d}.jpg,\n" for n in range(40))).encode()
    # Each import waits inside its first chunk's transaction for the other to get there
    # too: were the chunks not taking turns, both would have added the same paths by then.
    # Taking turns, the first gives up waiting and commits, and the other goes on.
    meet = threading.Barrier(2)
    totals: list[ImportTotals] = []

    def wait_for_the_other(_: ImportTotals) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=0.5)

    def run() -> None:
        try:
            totals.append(
                import_capture_rows(
                    deployment, io.BytesIO(content), chunk_rows=10, in_chunk=wait_for_the_other
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [(done.rows_done, done.added + done.already_there) for done in totals] == [(40, 40)] * 2
    assert sum(done.added for done in totals) == 40
    assert deployment.captures.count() == 40
    assert deployment.captures.values("path").distinct().count() == 40


@pytest.mark.django_db
def test_a_timestamp_a_year_ahead_is_the_latest_accepted(deployment):
    ahead = timezone.now() + timedelta(days=364)

    found = check(f"path,timestamp\na.jpg,{ahead.isoformat()}\n".encode())

    assert found.ok
