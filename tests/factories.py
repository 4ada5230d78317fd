"""What the tests build and ask for again and again, in one place: users, captures by the
night, sessions, occurrences and jobs, and the URLs, headers and commands they send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.urls import reverse

from jobs.models import REGROUP_JOB, Job, JobStatus
from monitoring.grouping import regroup_deployment
from monitoring.models import (
    Deployment,
    Event,
    Occurrence,
    Project,
    ProjectMembership,
    SourceImage,
)

PASSWORD = "correct-horse-battery"
# What htmx sends with each of its requests, as the test client's keyword arguments.
HTMX = {"HTTP_HX_REQUEST": "true"}
# The first night's first capture.
START = datetime(2024, 6, 1, 21, 0, tzinfo=UTC)


# --- Users ------------------------------------------------------------------------------


def make_user(username: str, **extra) -> AbstractBaseUser:
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_member(project: Project, username: str, role: str) -> AbstractBaseUser:
    user = make_user(username)
    ProjectMembership.objects.create(project=project, user=user, role=role)
    return user


# --- Captures ---------------------------------------------------------------------------


def add_captures(deployment: Deployment, timestamps: list[datetime | None]) -> list[SourceImage]:
    """Captures at these times (None: without a timestamp), in no session, bulk-created as
    a raw sync does: the deployment's stored counts are left as they were."""
    return SourceImage.objects.bulk_create(
        SourceImage(
            deployment=deployment,
            project_id=deployment.project_id,
            timestamp=timestamp,
            path=f"{deployment.pk}/{index:06d}.jpg",
        )
        for index, timestamp in enumerate(timestamps)
    )


def nights(first_night: int, count: int, per_night: int = 6) -> list[datetime]:
    """Captures every 10 minutes from 21:00, one block per night."""
    return [
        START + timedelta(days=night, minutes=10 * shot)
        for night in range(first_night, first_night + count)
        for shot in range(per_night)
    ]


def add_nights(
    deployment: Deployment,
    *,
    grouped: int = 0,
    ungrouped: int = 0,
    per_night: int = 6,
    undated: int = 0,
) -> Deployment:
    """`grouped` nights of captures grouped into sessions, then `ungrouped` more nights and
    `undated` captures without a timestamp synced without grouping; the stored counts are
    then refreshed, as the page shows them."""
    if grouped:
        add_captures(deployment, nights(0, grouped, per_night))
        regroup_deployment(deployment)
    add_captures(deployment, [*nights(grouped, ungrouped, per_night), *[None] * undated])
    deployment.update_calculated_fields()
    return deployment


# --- Sessions and occurrences -----------------------------------------------------------


def make_session(
    deployment: Deployment,
    start: datetime,
    length: timedelta = timedelta(hours=7, minutes=30),
    **fields,
) -> Event:
    """A session of one night, 7 h 30 min long unless told, with whatever stored counts are
    given."""
    return Event.objects.create(
        deployment=deployment,
        project=deployment.project,
        group_by=start.isoformat(),
        start=start,
        end=start + length,
        **fields,
    )


def make_occurrences(deployment: Deployment, count: int, **fields) -> list[Occurrence]:
    return Occurrence.objects.bulk_create(
        Occurrence(project=deployment.project, deployment=deployment, **fields)
        for _ in range(count)
    )


# --- Jobs -------------------------------------------------------------------------------


def regroup_progress(status: str = "STARTED", **stage) -> dict:
    """A regroup's stored progress, 69,120 of 165,432 captures done unless told otherwise."""
    return {
        "stages": [
            {
                "key": "regroup",
                "name": "Group captures into sessions",
                "unit": "captures",
                "status": status,
                "done": 69_120,
                "total": 165_432,
                "eta_seconds": 150,
                "stats": {"Sessions created": 12, "Occurrences re-linked": 4_321},
                **stage,
            }
        ]
    }


def make_job(deployment: Deployment, status: str = JobStatus.STARTED, **fields) -> Job:
    """A regroup job of `deployment` in this status, as a worker would have left it."""
    fields.setdefault("progress", regroup_progress())
    return Job.objects.create(
        name=f"Regroup sessions of {deployment}",
        job_type_key=REGROUP_JOB,
        project=deployment.project,
        deployment=deployment,
        status=status,
        **fields,
    )


def job_status(job: Job) -> str:
    """The job's status in the database now (the object may be older)."""
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


# --- URLs and commands ------------------------------------------------------------------


def deployment_url(name: str, deployment: Deployment) -> str:
    """The URL named `name` of this deployment: its regroup, card or rollup actions."""
    return reverse(name, args=[deployment.project_id, deployment.pk])


def job_url(name: str, job: Job) -> str:
    """The URL named `name` of this job: its page, fragments, cancel or retry."""
    return reverse(name, args=[job.project_id, job.pk])


def occurrence_list_url(project: Project, **filters) -> str:
    url = reverse("occurrence-list", args=[project.pk])
    if filters:
        url += "?" + "&".join(f"{name}={value}" for name, value in filters.items())
    return url


def run_command(*args: str) -> str:
    """Run a management command in this process; return what it printed."""
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
