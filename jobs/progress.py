"""Progress of a running job: stages with done/total, named statistics and time left.

The engine reports often (every chunk); the database is written at most every
JOBS_PROGRESS_SAVE_SECONDS, and always when a stage starts or ends.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import Job, JobStatus


class Stage:
    def __init__(self, progress: JobProgress, key: str, name: str, unit: str) -> None:
        self.progress = progress
        self.data: dict[str, Any] = {
            "key": key,
            "name": name,
            "unit": unit,
            "status": JobStatus.CREATED,
            "done": 0,
            "total": None,
            "eta_seconds": None,
            "stats": {},
        }
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        self.data["status"] = JobStatus.STARTED
        self.progress.save(force=True)

    def update(self, done: int, total: int) -> None:
        """The callback the engine calls: `done` of `total` units so far."""
        if self.started is None:
            self.start()
        self.data.update(done=done, total=total, eta_seconds=self._eta(done, total))
        self.progress.save()

    def set_stats(self, **stats: int | str) -> None:
        """Named statistics shown with the stage; keys are labels for people."""
        self.data["stats"].update(stats)

    def finish(self, status: str = JobStatus.SUCCESS) -> None:
        self.data["status"] = status
        self.data["eta_seconds"] = None
        if status == JobStatus.SUCCESS and self.data["total"] is not None:
            self.data["done"] = self.data["total"]
        self.progress.save(force=True)

    def _eta(self, done: int, total: int) -> int | None:
        elapsed = time.monotonic() - (self.started or time.monotonic())
        if done <= 0 or elapsed < 1 or done >= total:
            return None
        return round(elapsed / done * (total - done))


class JobProgress:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.stages: list[Stage] = []
        self.last_saved = 0.0
        self.saves = 0

    def add_stage(self, key: str, name: str, unit: str = "items") -> Stage:
        stage = Stage(self, key, name, unit)
        self.stages.append(stage)
        return stage

    def as_json(self) -> dict[str, Any]:
        return {"stages": [stage.data for stage in self.stages]}

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_saved < settings.JOBS_PROGRESS_SAVE_SECONDS:
            return
        self.last_saved = now
        self.saves += 1
        self.job.progress = self.as_json()
        # Only these columns: a concurrent cancel request must not be overwritten.
        Job.objects.filter(pk=self.job.pk).update(
            progress=self.job.progress, heartbeat_at=timezone.now()
        )
