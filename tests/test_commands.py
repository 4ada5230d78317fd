"""seed_demo and import_captures, as an operator would run them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError

from monitoring.demo import BIG_DEPLOYMENT, PROJECT_NAME
from monitoring.models import Deployment, Occurrence, Project, SourceImage, SourceImageCollection
from tests.factories import run_command


@pytest.mark.django_db
def test_seed_demo_reproduces_the_incident_and_is_idempotent():
    output = run_command("seed_demo", "--captures", "4000")
    assert "Sign in as demo / demo-moths" in output

    big = Deployment.objects.get(name=BIG_DEPLOYMENT)
    assert big.captures_count == 4000 + 12
    assert big.source_images_without_timestamp_count == 12
    ungrouped_share = big.source_images_without_event_count / 4000
    assert 0.2 <= ungrouped_share <= 0.3
    occurrences = Occurrence.objects.filter(deployment=big)
    no_session_share = occurrences.filter(event__isnull=True).count() / occurrences.count()
    assert 0.6 <= no_session_share <= 0.8
    project = Project.objects.get(name=PROJECT_NAME)
    assert project.deployments.count() == 4
    assert (
        project.deployments.exclude(pk=big.pk).filter(source_images_without_event_count=0).count()
        == 3
    )
    assert SourceImageCollection.objects.get(project=project).source_images_count == 0
    assert project.memberships.count() == 2

    captures_before = SourceImage.objects.count()
    assert "left as it is" in run_command("seed_demo", "--captures", "4000")
    assert SourceImage.objects.count() == captures_before
    assert Project.objects.filter(name=PROJECT_NAME).count() == 1


@pytest.fixture
def csv_file(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "captures.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.mark.django_db
def test_import_captures_adds_them_ungrouped(deployment, csv_file):
    path = csv_file(
        "path,timestamp\n"
        "night1/0001.jpg,2024-06-01T21:00:00+00:00\n"
        "night1/0002.jpg,2024-06-01T21:01:00Z\n"
        "night1/0003.jpg,2024-06-01 21:02:00\n"
        "undated/0001.jpg,\n"
    )
    output = run_command("import_captures", str(deployment.pk), str(path))

    assert "Imported 4 captures into Station A (1 without a timestamp)" in output
    assert "not grouped into sessions yet" in output
    captures = SourceImage.objects.filter(deployment=deployment).order_by("path")
    assert [c.timestamp for c in captures] == [
        datetime(2024, 6, 1, 21, 0, tzinfo=UTC),
        datetime(2024, 6, 1, 21, 1, tzinfo=UTC),
        datetime(2024, 6, 1, 21, 2, tzinfo=UTC),
        None,
    ]
    assert not captures.filter(event__isnull=False).exists()
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 3
    assert deployment.source_images_without_timestamp_count == 1


@pytest.mark.django_db
def test_import_captures_reports_every_bad_row_and_imports_nothing(deployment, csv_file):
    path = csv_file(
        "path,timestamp\n"
        "good.jpg,2024-06-01T21:00:00Z\n"
        "bad-date.jpg,yesterday\n"
        ",2024-06-01T21:00:00Z\n"
        "a,b,c\n"
        "impossible.jpg,2024-02-30T21:00:00Z\n"
    )
    with pytest.raises(CommandError) as error:
        run_command("import_captures", str(deployment.pk), str(path))

    message = str(error.value)
    assert "Nothing was imported: 4 bad rows" in message
    assert "line 3: 'yesterday' is not an ISO 8601 date and time" in message
    assert "line 4: the path is empty" in message
    assert "line 5: expected 2 columns" in message
    assert "line 6: '2024-02-30T21:00:00Z' is not an ISO 8601" in message
    assert not SourceImage.objects.exists()


@pytest.mark.django_db
def test_import_captures_rejects_unknown_deployments_and_unreadable_files(
    deployment, csv_file, tmp_path
):
    path = csv_file("path,timestamp\na.jpg,2024-06-01T21:00:00Z\n")
    with pytest.raises(CommandError, match="no deployment with id 4242"):
        run_command("import_captures", "4242", str(path))
    with pytest.raises(CommandError, match="Can't read"):
        run_command("import_captures", str(deployment.pk), str(tmp_path / "missing.csv"))
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\xff\xd8\xff\xe0 not text")
    with pytest.raises(CommandError, match="this is not a CSV text file"):
        run_command("import_captures", str(deployment.pk), str(binary))
    assert not SourceImage.objects.exists()


@pytest.mark.django_db
def test_import_captures_with_group_runs_the_job_stages_in_the_foreground(deployment, csv_file):
    path = csv_file(
        "path,timestamp\n"
        "night1/0001.jpg,2024-06-01T21:00:00Z\n"
        "night1/0002.jpg,2024-06-01T21:01:00Z\n"
        "night2/0001.jpg,2024-06-02T21:00:00Z\n"
    )
    output = run_command("import_captures", str(deployment.pk), str(path), "--group")

    assert "Check" in output and "Group sessions" in output and "Refresh counts" in output
    assert "Added 3 captures and grouped them into 2 sessions." in output
    deployment.refresh_from_db()
    assert (deployment.events_count, deployment.source_images_without_event_count) == (2, 0)

    again = run_command("import_captures", str(deployment.pk), str(path), "--group")
    assert "Added no captures: all 3 were already there." in again
