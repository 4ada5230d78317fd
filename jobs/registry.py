"""The job types users can start, by key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import Job
from .reporter import ProgressReporter


class JobStopped(Exception):
    """The job stopped at a safe point because a cancel was asked; the message says where."""


class JobError(Exception):
    """The job can't do its work; the message is for people and ends up in the log."""


@dataclass(frozen=True)
class JobContext:
    job: Job
    progress: ProgressReporter
    should_stop: Callable[[], bool]

    def log(self, message: str, level: str = "INFO") -> None:
        self.job.log(message, level)


@dataclass(frozen=True)
class JobType:
    key: str
    name: str
    # Does the work; returns the job's result (JSON), raises JobStopped or JobError.
    run: Callable[[JobContext], dict[str, Any]]
    describe: Callable[[Job], str]


JOB_TYPES: dict[str, JobType] = {}


def register(job_type: JobType) -> JobType:
    JOB_TYPES[job_type.key] = job_type
    return job_type


def get_job_type(key: str) -> JobType:
    from . import populate, regroup  # noqa: F401  (they register themselves)

    return JOB_TYPES[key]
