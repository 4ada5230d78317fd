"""A job as pages show it: one presenter for the card, the project's rollup and the jobs pages.

`present(job)` returns a `JobView`: the job itself (templates read its own fields through
`view.job`), its type's name, its stages with percent and time left, the stage under way,
how long it has run, what screen readers were last told, and how often a watcher asks again.
The model is never decorated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from .models import Job, JobStatus
from .polls import Poll, poll_of
from .progress import JobProgress, StageProgress
from .registry import JOB_TYPES


@dataclass
class StageView(StageProgress):
    """A stage as a page shows it: its stored progress, read in the light of the job's
    status (a run that ended mid-stage, a retry waiting for a worker)."""

    # The run ended before reaching this stage.
    not_run: bool = False

    @property
    def percent(self) -> int | None:
        return min(100, self.done * 100 // self.total) if self.total else None

    @property
    def eta_minutes(self) -> int | None:
        return round(self.eta_seconds / 60) if self.eta_seconds else None

    @property
    def eta_hours(self) -> int | None:
        return round(self.eta_seconds / 3600) if self.eta_seconds else None


def counting_from_zero(total: int, unit: str) -> StageView:
    """A stage before its worker has reported: "0 of `total` `unit`", so a bar can show
    from the first moment."""
    return StageView(key="", name="", unit=unit, status=JobStatus.PENDING, done=0, total=total)


@dataclass(frozen=True)
class JobView:
    job: Job
    type_name: str
    stages: list[StageView]
    duration_seconds: int | None
    # How a page watching the job asks again; None once it has ended.
    poll: Poll | None
    # What its params ask for, in words.
    options: list[str] = field(default_factory=list)

    @property
    def is_waiting(self) -> bool:
        # A retried job keeps its last run's progress and start time until a worker takes it.
        return self.job.status in (JobStatus.CREATED, JobStatus.PENDING)

    @property
    def current_stage(self) -> StageView | None:
        """The stage under way, else the last one reached, else the first."""
        under_way = [stage for stage in self.stages if stage.status == JobStatus.STARTED]
        reached = [stage for stage in self.stages if stage.status != JobStatus.CREATED]
        return (under_way or reached[-1:] or self.stages[:1] or [None])[0]

    @property
    def counted_stage(self) -> StageView | None:
        """The current stage once its worker has counted what it has to do."""
        stage = self.current_stage
        return stage if stage is not None and stage.total is not None else None

    @property
    def percent_tens(self) -> int | None:
        stage = self.current_stage
        return stage.percent // 10 * 10 if stage and stage.percent is not None else None

    @property
    def announcement(self) -> str:
        """Screen readers hear a job at most when this changes: its status, its stage, or
        another tenth of the stage done."""
        stage = self.current_stage
        return f"{self.job.status}:{stage.key if stage else ''}:{self.percent_tens}"


def present(job: Job, poll_extra: object = "", now: datetime | None = None) -> JobView:
    """The job as its pages show it. `poll_extra` is what else a watching page shows that can
    change while the job's row does not (see jobs.polls)."""
    now = now or timezone.now()
    waiting = job.status in (JobStatus.CREATED, JobStatus.PENDING)
    if job.started_at and not waiting:
        duration = (job.finished_at or now) - job.started_at
        duration_seconds = max(0, int(duration / timedelta(seconds=1)))
    else:
        duration_seconds = None
    job_type = JOB_TYPES.get(job.job_type_key)
    return JobView(
        job=job,
        # A type this code no longer has goes by its key.
        type_name=job_type.name if job_type else job.job_type_key,
        stages=[_stage(job, stage) for stage in JobProgress.from_json(job.progress).stages],
        duration_seconds=duration_seconds,
        poll=poll_of(job, poll_extra, now) if job.is_active else None,
        options=job_type.describe_params(job.params)
        if job_type and job_type.describe_params
        else [],
    )


def _stage(job: Job, stage: StageProgress) -> StageView:
    status = stage.status
    if job.is_final and status == JobStatus.STARTED:
        status = job.status  # the run ended while this stage was under way
    elif job.status in (JobStatus.CREATED, JobStatus.PENDING) and status == JobStatus.STARTED:
        status = JobStatus.REVOKED  # the last run stopped here
    running = job.status in (JobStatus.STARTED, JobStatus.CANCELLING)
    return StageView(
        **{
            **vars(stage),
            "status": status,
            "eta_seconds": stage.eta_seconds if running else None,
            "not_run": job.is_final and status == JobStatus.CREATED,
        }
    )
