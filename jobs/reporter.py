"""Progress of a running job, reported as the work goes and saved to the job's row.

The engine reports often (every chunk); the database is written at most every
JOBS_PROGRESS_SAVE_SECONDS, and always when a stage starts or ends.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from .family import settle_parent_of
from .models import Job
from .progress import JobProgress, StageProgress
from .status import JobStatus


class StageReporter:
    """One stage of the job: the engine's progress callback, its statistics and its end."""

    def __init__(self, reporter: ProgressReporter, stage: StageProgress) -> None:
        self.reporter = reporter
        self.stage = stage
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        self.stage.status = JobStatus.STARTED
        self.reporter.save(force=True)

    def update(self, done: int, total: int) -> None:
        """The callback the engine calls: `done` of `total` units so far."""
        if self.started is None:
            self.start()
        self.stage.done, self.stage.total = done, total
        self.stage.eta_seconds = self._eta(done, total)
        self.reporter.save()

    def set_stats(self, **stats: int | str) -> None:
        """Named statistics shown with the stage; keys are labels for people."""
        self.stage.stats.update(stats)

    def finish(self, status: str = JobStatus.SUCCESS) -> None:
        self.stage.status = status
        self.stage.eta_seconds = None
        if status == JobStatus.SUCCESS and self.stage.total is not None:
            self.stage.done = self.stage.total
        self.reporter.save(force=True)

    def _eta(self, done: int, total: int) -> int | None:
        elapsed = time.monotonic() - (self.started or time.monotonic())
        if done <= 0 or elapsed < 1 or done >= total:
            return None
        return round(elapsed / done * (total - done))


class ProgressReporter:
    """The job's stages as its run reports them; `save` writes them to the job's row."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.progress = JobProgress()
        self.last_saved = 0.0
        self.saves = 0

    def add_stage(self, key: str, name: str, unit: str = "items") -> StageReporter:
        stage = StageProgress(key=key, name=name, unit=unit)
        self.progress.stages.append(stage)
        return StageReporter(self, stage)

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_saved < settings.JOBS_PROGRESS_SAVE_SECONDS:
            return
        self.last_saved = now
        self.saves += 1
        self.job.progress = self.progress.as_json()
        # Only these columns: a concurrent cancel request must not be overwritten.
        Job.objects.filter(pk=self.job.pk).update(
            progress=self.job.progress, heartbeat_at=timezone.now()
        )
        settle_parent_of(self.job)
