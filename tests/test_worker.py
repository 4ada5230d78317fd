"""The refresh task, its admin action, and a real worker process running it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.urls import reverse

from monitoring.models import Deployment, Event, SourceImage
from monitoring.tasks import refresh_deployment_counts
from tests.worker_process import CeleryWorker, database_url_for

FIRST_CAPTURE = datetime(2024, 6, 1, 22, 0, tzinfo=UTC)


def add_captures_with_stale_counts(deployment: Deployment) -> None:
    """Three captures: one in a session, one ungrouped, one without a timestamp.

    Bulk-created, so the deployment's stored counts are left stale, as after a raw sync.
    """
    event = Event.objects.create(
        deployment=deployment,
        project=deployment.project,
        group_by=FIRST_CAPTURE.isoformat(),
        start=FIRST_CAPTURE,
        end=FIRST_CAPTURE,
    )
    SourceImage.objects.bulk_create(
        [
            SourceImage(
                deployment=deployment,
                project=deployment.project,
                event=event,
                timestamp=FIRST_CAPTURE,
                path="a.jpg",
            ),
            SourceImage(
                deployment=deployment,
                project=deployment.project,
                timestamp=FIRST_CAPTURE + timedelta(minutes=5),
                path="b.jpg",
            ),
            SourceImage(deployment=deployment, project=deployment.project, path="c.jpg"),
        ]
    )


def assert_counts_refreshed(deployment: Deployment) -> None:
    deployment.refresh_from_db()
    assert deployment.captures_count == 3
    assert deployment.events_count == 1
    assert deployment.source_images_without_event_count == 1
    assert deployment.source_images_without_timestamp_count == 1
    assert deployment.first_capture_timestamp == FIRST_CAPTURE
    assert deployment.calculated_fields_updated_at is not None


def test_task_refreshes_stored_counts(deployment: Deployment) -> None:
    add_captures_with_stale_counts(deployment)

    refresh_deployment_counts(deployment.pk)

    assert_counts_refreshed(deployment)


def test_task_warns_and_returns_for_an_unknown_deployment(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="monitoring.tasks"):
        refresh_deployment_counts(987654)

    assert "987654 no longer exists" in caplog.text


def test_admin_action_dispatches_after_commit(
    client, deployment: Deployment, django_capture_on_commit_callbacks
) -> None:
    other = Deployment.objects.create(project=deployment.project, name="Station B")
    admin = get_user_model().objects.create_superuser("admin", password="admin-password-1")
    client.force_login(admin)

    with mock.patch.object(refresh_deployment_counts, "delay") as delay:
        with django_capture_on_commit_callbacks() as callbacks:
            response = client.post(
                reverse("admin:monitoring_deployment_changelist"),
                {
                    "action": "refresh_counts_in_background",
                    ACTION_CHECKBOX_NAME: [deployment.pk, other.pk],
                },
                follow=True,
            )
        # Nothing goes to the broker before the transaction commits...
        delay.assert_not_called()
        # ...and one message per deployment once it has.
        for callback in callbacks:
            callback()

    assert sorted(call.args for call in delay.call_args_list) == sorted(
        [(deployment.pk,), (other.pk,)]
    )
    assert "Queued a refresh of the stored counts of 2 deployments" in response.content.decode()


def test_database_url_for_sqlite_and_postgresql() -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/test db.sqlite3"}
    assert database_url_for(sqlite) == "sqlite:////tmp/test db.sqlite3"
    postgres = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test_captures",
        "USER": "postgres",
        "PASSWORD": "p@ss",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }
    assert database_url_for(postgres) == "postgres://postgres:p%40ss@127.0.0.1:5432/test_captures"
    socket = {**postgres, "PASSWORD": "", "HOST": "/var/run/postgresql", "PORT": ""}
    assert database_url_for(socket) == "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test_captures"
    with pytest.raises(ValueError, match="in-memory"):
        database_url_for({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})


def test_worker_process_refreshes_counts(live_worker: CeleryWorker, deployment: Deployment) -> None:
    add_captures_with_stale_counts(deployment)
    assert Deployment.objects.get(pk=deployment.pk).captures_count == 0

    refresh_deployment_counts.delay(deployment.pk)

    live_worker.wait_for(
        lambda: Deployment.objects.get(pk=deployment.pk).captures_count == 3,
        timeout=30,
        what="the worker to refresh the stored counts",
    )
    assert_counts_refreshed(deployment)
    assert "monitoring.tasks.refresh_deployment_counts" in live_worker.log()
