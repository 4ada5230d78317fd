"""Jobs: the unit users see for work that runs on a worker (upstream names).

A Job has a type from the registry, a target (a deployment, a capture set or, for a job
whose work is done by child jobs, the project), a status, progress by stages with named
statistics, a result, and log lines written as it runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Deployment, Project, SourceImageCollection

from .progress import JobProgress
from .status import ACTIVE_STATUSES, FINAL_STATUSES, RUNNING_STATUSES, JobStatus

# The keys of the types in jobs/regroup.py, jobs/regroup_all.py and jobs/populate.py,
# stored in every job row; the pages and suggestions that ask about those jobs import them
# from here.
REGROUP_JOB = "regroup_sessions"
REGROUP_ALL_JOB = "regroup_deployments"
POPULATE_JOB = "populate_capture_set"
# Types whose work is done by child jobs: no worker runs them, so none can go silent.
PARENT_JOB_TYPES = [REGROUP_ALL_JOB]


# Where a job's target is held, by the target's model.
TARGET_FIELDS: dict[type[models.Model], str] = {
    Deployment: "deployment",
    SourceImageCollection: "source_image_collection",
    Project: "project",
}
Target = Deployment | SourceImageCollection | Project


class JobQuerySet(models.QuerySet):
    """The questions asked of jobs, each answered here once: `of_type(key).for_target(x)`,
    then `.active()`, `.newest()`, or `.by_target(targets)` for a page of targets."""

    def active(self) -> JobQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def of_type(self, key: str) -> JobQuerySet:
        return self.filter(job_type_key=key)

    def for_target(self, target: Target) -> JobQuerySet:
        """Jobs on `target`, a deployment or a capture set."""
        return self.filter(**{TARGET_FIELDS[type(target)]: target})

    def for_deployment(self, deployment: Deployment | int) -> JobQuerySet:
        return self.filter(deployment=deployment)

    def for_capture_set(self, collection: SourceImageCollection | int) -> JobQuerySet:
        return self.filter(source_image_collection=collection)

    def newest_first(self) -> JobQuerySet:
        return self.order_by("-created_at", "-pk")

    def newest(self) -> Job | None:
        return self.newest_first().first()

    def by_target(self, targets: Iterable[Target]) -> dict[int, Job]:
        """The newest of these jobs on each of `targets` (all of one model), by target id,
        in one query."""
        targets = list(targets)
        if not targets:
            return {}
        field = TARGET_FIELDS[type(targets[0])]
        newest: dict[int, Job] = {}
        for job in self.filter(**{f"{field}__in": targets}).order_by(field, "-created_at", "-pk"):
            newest.setdefault(getattr(job, f"{field}_id"), job)
        return newest

    def stale(self, now=None) -> JobQuerySet:
        """Running jobs whose worker has shown no sign of life for JOBS_STALE_AFTER_SECONDS.

        Jobs waiting for a worker are never stale: no worker has them, so none can be lost,
        and they may rightly wait behind a long job. Nor are parent jobs: their children
        run on workers (and are reaped like any job), and they end with them.
        """
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)
        return self.filter(status__in=RUNNING_STATUSES, heartbeat_at__lt=cutoff).exclude(
            job_type_key__in=PARENT_JOB_TYPES
        )


class Job(models.Model):
    name = models.CharField(max_length=255)
    job_type_key = models.CharField(max_length=64)
    project = models.ForeignKey("monitoring.Project", on_delete=models.CASCADE, related_name="jobs")
    deployment = models.ForeignKey(
        "monitoring.Deployment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
    )
    source_image_collection = models.ForeignKey(
        "monitoring.SourceImageCollection",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
    )
    # The job this one is a stage of (Regroup all), if any; its progress and log follow
    # this one's.
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.CREATED)
    progress = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
    )
    # Who asked the latest run to stop; a new run (Retry) clears it.
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the worker running it; the reaper recovers jobs that go quiet.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Runs in all, on any worker (each start, retry and recovery is one).
    attempts = models.PositiveIntegerField(default=0)
    # Runs started automatically because the previous run's worker went silent, since a
    # person last queued the job; JOBS_MAX_ATTEMPTS bounds the runs this allows.
    recoveries = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=255, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="job_project_created_idx"),
            models.Index(
                fields=["deployment", "job_type_key"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="job_active_by_deployment_idx",
            ),
        ]
        constraints = [
            # Two clicks, two tabs or two users get the same job, never two: one active job
            # of each type per target, whatever the type.
            models.UniqueConstraint(
                fields=["job_type_key", "deployment"],
                condition=Q(deployment__isnull=False, status__in=ACTIVE_STATUSES),
                name="one_active_job_per_type_and_deployment",
            ),
            models.UniqueConstraint(
                fields=["job_type_key", "source_image_collection"],
                condition=Q(source_image_collection__isnull=False, status__in=ACTIVE_STATUSES),
                name="one_active_job_per_type_and_capture_set",
            ),
            # And one active job of each type whose target is the project itself.
            models.UniqueConstraint(
                fields=["job_type_key", "project"],
                condition=Q(
                    deployment__isnull=True,
                    source_image_collection__isnull=True,
                    status__in=ACTIVE_STATUSES,
                ),
                name="one_active_job_per_type_and_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("job-detail", args=[self.project_id, self.pk])

    @property
    def is_parent(self) -> bool:
        """Whether its work is done by child jobs (see jobs/family.py)."""
        return self.job_type_key in PARENT_JOB_TYPES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self.status in (JobStatus.CREATED, JobStatus.PENDING, JobStatus.STARTED)

    @property
    def can_retry(self) -> bool:
        return self.status in (JobStatus.FAILURE, JobStatus.REVOKED)

    @property
    def runs_since_queued(self) -> int:
        """Runs since a person queued it: the first, then one per recovery."""
        return self.recoveries + 1

    @property
    def may_recover(self) -> bool:
        """Whether another automatic run is within JOBS_MAX_ATTEMPTS."""
        return self.runs_since_queued < settings.JOBS_MAX_ATTEMPTS

    @property
    def stage_progress(self) -> JobProgress:
        """The `progress` column, read into its typed shape."""
        return JobProgress.from_json(self.progress)

    @property
    def target(self) -> Target:
        return self.deployment or self.source_image_collection or self.project

    def log(self, message: str, level: str = "INFO") -> JobLog:
        """Add a line to the job's log and, for a child job, to its parent's, prefixed by
        what the child works on, so that the parent has one log of all its stages."""
        line = JobLog.objects.create(job=self, level=level, message=message)
        if self.parent_id is not None:
            JobLog.objects.create(
                job_id=self.parent_id, level=level, message=f"{self.target}: {message}"
            )
        return line

    def last_error(self) -> JobLog | None:
        return self.logs.filter(level=JobLog.Level.ERROR).order_by("-pk").first()


class JobLog(models.Model):
    class Level(models.TextChoices):
        INFO = "INFO", "Info"
        WARNING = "WARNING", "Warning"
        ERROR = "ERROR", "Error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="logs")
    created_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["job", "-id"], name="joblog_job_recent_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%H:%M:%S} {self.level} {self.message}"
