"""The Add captures job, run in this process: Check, Import, Group sessions, Refresh counts;
bad files, cancel at a chunk boundary and Retry going on from there, the stored file."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

import config.settings as settings_module
from jobs import actions
from jobs.add_captures import ADD_CAPTURES_JOB, REJECTED_FILE, params_for
from jobs.job_type import NothingToDo
from jobs.models import Job, JobStatus
from jobs.presenters import present
from jobs.reporter import StageReporter
from jobs.runner import run_job
from monitoring.capture_uploads import delete_upload, store_upload, upload_exists
from monitoring.models import Deployment, Event, SourceImage

# Two nights of three captures, a capture without a timestamp, and one taken as UTC.
GOOD_FILE = (
    "path,timestamp\n"
    "n1/1.jpg,2024-06-01T21:00:00Z\nn1/2.jpg,2024-06-01T21:10:00Z\nn1/3.jpg,2024-06-01T21:20:00Z\n"
    "n2/1.jpg,2024-06-02T21:00:00Z\nn2/2.jpg,2024-06-02T21:10:00Z\nn2/3.jpg,2024-06-02 21:20:00\n"
    "undated.jpg,\n"
)


def upload(deployment: Deployment, content: str, name: str = "night.csv") -> dict[str, Any]:
    stored = store_upload(
        ContentFile(content.encode(), name=name),
        deployment.pk,
        max_bytes=10_000_000,
        max_rows=1_000,
    )
    return params_for(stored, name)


def start_and_run(deployment: Deployment, user, content: str) -> Job:
    job, created = actions.start(
        ADD_CAPTURES_JOB, deployment, user, params=upload(deployment, content)
    )
    assert created
    run_job(job.pk)
    job.refresh_from_db()
    return job


def messages(job: Job) -> list[str]:
    return list(job.logs.values_list("message", flat=True))


def stages(job: Job) -> list[tuple[str, str]]:
    return [(stage["name"], stage["status"]) for stage in job.progress["stages"]]


def test_a_file_is_checked_imported_grouped_and_counted_in_one_job(deployment, manager):
    job = start_and_run(deployment, manager, GOOD_FILE)

    assert job.status == JobStatus.SUCCESS, messages(job)
    assert job.name == "Add captures to Station A"
    assert stages(job) == [
        ("Check", "SUCCESS"),
        ("Import", "SUCCESS"),
        ("Group sessions", "SUCCESS"),
        ("Refresh counts", "SUCCESS"),
    ]
    assert (job.result["added"], job.result["already_there"], job.result["sessions"]) == (7, 0, 2)
    assert "Added 7 captures and grouped them into 2 sessions." in messages(job)
    assert "1 timestamp had no time zone and was taken as UTC (line 7)." in messages(job)
    new_sessions = Event.objects.filter(pk__in=job.result["session_ids"]).order_by("start")
    assert [session.captures_count for session in new_sessions] == [3, 3]
    deployment.refresh_from_db()
    assert deployment.captures_count == 7
    assert deployment.source_images_without_event_count == 0
    assert deployment.source_images_without_timestamp_count == 1
    assert not upload_exists(job.params["file"])


def test_paths_already_there_are_skipped_and_said(deployment, manager):
    first = start_and_run(deployment, manager, GOOD_FILE)
    again = start_and_run(deployment, manager, GOOD_FILE + "n2/4.jpg,2024-06-02T21:30:00Z\n")

    assert first.status == again.status == JobStatus.SUCCESS
    assert "Added 1 capture (7 already there) and grouped it into 1 session." in messages(again)
    assert SourceImage.objects.filter(deployment=deployment).count() == 8


def test_one_bad_row_is_one_to_fix(deployment, manager):
    job = start_and_run(deployment, manager, GOOD_FILE + ",2024-06-03T21:00:00Z\n")

    assert job.last_error().message == (
        "Nothing was imported: 1 bad row in the file. Fix it and add the file again."
    )


def test_a_file_with_bad_rows_imports_nothing_and_cannot_be_retried(deployment, manager):
    bad = GOOD_FILE + "".join(f",2024-06-03T21:{n:02d}:00Z\n" for n in range(25))

    job = start_and_run(deployment, manager, bad)

    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == (
        "Nothing was imported: 25 bad rows in the file. Fix them and add the file again."
    )
    assert job.params["rejected"] and job.params["problem_count"] == 25
    assert job.params["problems"][0] == "line 9: the path is empty"
    assert "line 33: the path is empty" in messages(job)[-2]
    assert not SourceImage.objects.exists()
    assert not upload_exists(job.params["file"])
    assert [(stage.name, stage.status) for stage in present(job).stages][:2] == [
        ("Check", JobStatus.FAILURE),
        ("Import", JobStatus.CREATED),
    ]
    with pytest.raises(NothingToDo, match=REJECTED_FILE):
        actions.retry_job(job, manager)


def test_a_file_that_is_not_csv_fails_the_check_with_its_reason(deployment, manager):
    job = start_and_run(deployment, manager, "PK\x03\x04 a workbook")

    assert job.status == JobStatus.FAILURE
    assert job.last_error().message.startswith(
        "Nothing was imported: this is a zip file or a spreadsheet (.xlsx), not CSV text"
    )
    assert job.params["rejected"]


def test_a_file_no_longer_kept_fails_the_job_and_says_so(deployment, manager):
    params = upload(deployment, GOOD_FILE)
    job, _ = actions.start(ADD_CAPTURES_JOB, deployment, manager, params=params)
    delete_upload(params["file"])
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert job.last_error().message == "The uploaded file is no longer kept; add it again."


def test_cancel_at_a_chunk_boundary_keeps_the_chunks_and_retry_goes_on(
    deployment, manager, settings, monkeypatch
):
    settings.CAPTURE_IMPORT_CHUNK_ROWS = 2
    job, _ = actions.start(
        ADD_CAPTURES_JOB, deployment, manager, params=upload(deployment, GOOD_FILE)
    )
    original = StageReporter.update

    def cancel_after_the_first_chunk(self: StageReporter, done: int, total: int) -> None:
        original(self, done, total)
        if self.stage.key == "import" and done == 2:
            actions.cancel_job(Job.objects.get(pk=job.pk), manager)

    monkeypatch.setattr(StageReporter, "update", cancel_after_the_first_chunk)
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    assert messages(job)[-1].startswith("Stopped at a safe point after 2 of 7 rows")
    assert SourceImage.objects.filter(deployment=deployment).count() == 2
    assert upload_exists(job.params["file"])
    deployment.refresh_from_db()
    assert deployment.captures_count == 2

    monkeypatch.setattr(StageReporter, "update", original)
    retried, queued = actions.retry_job(job, manager)
    assert queued
    run_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS
    assert "Going on from row 3, where the last run stopped." in messages(job)
    # The rows the first run added are its own, not "already there".
    assert (job.result["added"], job.result["already_there"]) == (7, 0)
    assert "Added 7 captures and grouped them into 2 sessions." in messages(job)
    assert not upload_exists(job.params["file"])


def test_uploads_are_kept_under_var_dir_or_in_the_bucket_the_environment_names(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("UPLOADS_S3_BUCKET", raising=False)
    local = runpy.run_path(str(Path(settings_module.__file__)))["STORAGES"]["capture_uploads"]
    assert local == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "uploads" / "captures")},
    }

    monkeypatch.setenv("UPLOADS_S3_BUCKET", "moth-uploads")
    monkeypatch.setenv("UPLOADS_S3_ENDPOINT_URL", "https://s3.example.org")
    bucket = runpy.run_path(str(Path(settings_module.__file__)))["STORAGES"]["capture_uploads"]
    assert bucket["BACKEND"] == "storages.backends.s3.S3Storage"
    assert bucket["OPTIONS"]["bucket_name"] == "moth-uploads"
    assert bucket["OPTIONS"]["endpoint_url"] == "https://s3.example.org"
    assert bucket["OPTIONS"]["location"] == "capture-uploads"
