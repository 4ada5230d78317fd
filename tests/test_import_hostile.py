"""import_captures against files built to break it: a clear, line-numbered refusal, an exit
status that says so, and nothing imported; or, for a byte-order mark, a normal import.
(The reader's other bad inputs, shared with the Add captures job: tests/test_capture_files.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from monitoring.grouping import regroup_deployment
from monitoring.models import Deployment, SourceImage
from tests.worker_process import BASE_DIR, database_url_for

OUT_OF_RANGE = "is outside the dates a capture can have (0001-01-02 to 9999-12-30, UTC)"


def import_file(deployment: Deployment, path: Path) -> str:
    out = StringIO()
    call_command("import_captures", str(deployment.pk), str(path), stdout=out)
    return out.getvalue()


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "captures.csv"
    path.write_bytes(content)
    return path


def assert_nothing_imported(deployment: Deployment) -> None:
    assert not SourceImage.objects.exists()
    deployment.refresh_from_db()
    assert deployment.captures_count == 0
    assert deployment.source_images_without_event_count == 0


HOSTILE_ROWS = [
    pytest.param(
        "far-east.jpg,0001-01-01T00:00:00+14:00",
        f"line 3: '0001-01-01T00:00:00+14:00' {OUT_OF_RANGE}",
        id="before-year-1-in-utc",
    ),
    pytest.param(
        "far-west.jpg,9999-12-31T23:59:59-14:00",
        f"line 3: '9999-12-31T23:59:59-14:00' {OUT_OF_RANGE}",
        id="after-year-9999-in-utc",
    ),
    pytest.param(
        "epoch-zero.jpg,0001-01-01T00:00:00Z",
        f"line 3: '0001-01-01T00:00:00Z' {OUT_OF_RANGE}",
        id="year-1-in-utc",
    ),
    pytest.param(
        f"{'deep/' * 400},2024-06-01T21:00:00Z",
        "line 3: the path is 2,000 characters long; at most 1,024 fit",
        id="path-longer-than-the-column",
    ),
    pytest.param(
        "nul\x00byte.jpg,2024-06-01T21:00:00Z",
        "line 3: the path contains a NUL character, which can't be stored",
        id="nul-byte-in-the-path",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "message"), HOSTILE_ROWS)
def test_a_hostile_row_is_named_by_its_line_and_nothing_is_imported(
    deployment, tmp_path, row, message
):
    path = write(
        tmp_path,
        f"path,timestamp\ngood.jpg,2024-06-01T21:00:00Z\n{row}\nalso-good.jpg,\n".encode(),
    )

    with pytest.raises(CommandError) as error:
        import_file(deployment, path)

    assert str(error.value) == f"Nothing was imported: 1 bad row in {path}.\n{message}"
    assert error.value.returncode == 1
    assert_nothing_imported(deployment)


@pytest.mark.django_db
def test_every_hostile_row_of_a_file_is_reported_at_once(deployment, tmp_path):
    rows = "\n".join(param.values[0] for param in HOSTILE_ROWS)
    path = write(tmp_path, f"path,timestamp\n{rows}\n".encode())

    with pytest.raises(CommandError) as error:
        import_file(deployment, path)

    lines = str(error.value).splitlines()
    assert lines[0] == f"Nothing was imported: 5 bad rows in {path}."
    assert [line.split(":", 1)[0] for line in lines[1:]] == [f"line {n}" for n in range(2, 7)]
    assert_nothing_imported(deployment)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"path,timestamp\n", "the file has a header but no rows"),
        (b"path,timestamp\r\n\r\n  \r\n", "the file has a header but no rows"),
        (b"\n\n", "the file has only blank lines"),
    ],
    ids=["empty", "header-only", "header-and-blank-lines", "blank-lines"],
)
def test_a_file_without_rows_is_refused(deployment, tmp_path, content, reason):
    path = write(tmp_path, content)

    with pytest.raises(CommandError) as error:
        import_file(deployment, path)

    assert str(error.value) == f"Nothing was imported from {path}: {reason}."
    assert error.value.returncode == 1
    assert_nothing_imported(deployment)


@pytest.mark.django_db
def test_a_byte_order_mark_is_accepted_and_one_capture_is_one_capture(deployment, tmp_path):
    bom = b"\xef\xbb\xbf"
    path = write(tmp_path, bom + b"path,timestamp\r\nnight1/0001.jpg,2024-06-01T21:00:00Z\r\n")

    output = import_file(deployment, path)

    assert "Imported 1 capture into Station A (0 without a timestamp)." in output
    assert "It is not grouped into a session yet: Station A now has 1 capture without" in output
    capture = SourceImage.objects.get()
    assert (capture.path, capture.timestamp) == (
        "night1/0001.jpg",
        datetime(2024, 6, 1, 21, 0, tzinfo=UTC),
    )


# The latest a capture may be: a clock set years ahead is refused (see test_capture_files).
NEXT_YEAR = (timezone.now() + timedelta(days=364)).replace(microsecond=999999)


@pytest.mark.django_db
def test_the_extreme_dates_accepted_are_stored_counted_and_grouped(deployment, tmp_path):
    longest = "x" * 1024
    path = write(
        tmp_path,
        (
            f"path,timestamp\nfirst.jpg,0001-01-02T00:00:00Z\n{longest},2024-06-01T21:00:00Z\n"
            f"last.jpg,{NEXT_YEAR.isoformat()}\n"
        ).encode(),
    )

    assert "Imported 3 captures" in import_file(deployment, path)
    regroup_deployment(deployment)

    deployment.refresh_from_db()
    assert deployment.first_capture_timestamp == datetime(1, 1, 2, tzinfo=UTC)
    assert deployment.last_capture_timestamp == NEXT_YEAR
    assert deployment.events_count == 3
    assert deployment.source_images_without_event_count == 0
    assert SourceImage.objects.filter(path=longest).exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_on_a_hostile_file_and_zero_on_a_good_one(deployment, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_for(connection.settings_dict)}

    def manage(content: bytes) -> subprocess.CompletedProcess[str]:
        path = write(tmp_path, content)
        command = [sys.executable, "manage.py", "import_captures", str(deployment.pk), str(path)]
        return subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True)

    hostile = manage(b"path,timestamp\nfar-west.jpg,9999-12-31T23:59:59-14:00\n")
    empty = manage(b"path,timestamp\n")

    assert hostile.returncode == 1
    assert f"line 2: '9999-12-31T23:59:59-14:00' {OUT_OF_RANGE}" in hostile.stderr
    assert "Traceback" not in hostile.stderr
    assert empty.returncode == 1
    assert "the file has a header but no rows" in empty.stderr
    assert_nothing_imported(deployment)

    good = manage(
        b"\xef\xbb\xbfpath,timestamp\na.jpg,2024-06-01T21:00:00Z\nb.jpg,2024-06-01T21:01:00Z\n"
    )

    assert good.returncode == 0, good.stderr
    assert "Imported 2 captures into Station A (0 without a timestamp)." in good.stdout
    assert SourceImage.objects.count() == 2
