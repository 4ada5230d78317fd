"""What a job type is: the target it runs on, its run, and what a run may raise.

A type is one module (see jobs/regroup.py) that defines its `JOB_TYPE`; jobs/registry.py
lists the types. A parent type (jobs/regroup_all.py) fans out into child jobs instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import Job, Target
from .reporter import ProgressReporter


class JobStopped(Exception):
    """The job stopped at a safe point because a cancel was asked; the message says where."""


class JobError(Exception):
    """The job can't do its work; the message is for people and ends up in the log."""


class NothingToDo(Exception):
    """Running the job now would change nothing, so none was queued; the message says why."""


@dataclass(frozen=True)
class JobContext:
    job: Job
    progress: ProgressReporter
    should_stop: Callable[[], bool]

    def log(self, message: str, level: str = "INFO") -> None:
        self.job.log(message, level)


@dataclass(frozen=True)
class JobType:
    # Stored in every job row of the type: never change it.
    key: str
    name: str
    # The model of what it runs on (a deployment or a capture set); the job holds it in
    # that model's field.
    target: type[Target]
    # Does the work on a worker; returns the job's result (JSON), raises JobStopped or
    # JobError. None for a parent type, whose work is its children's (see `fan_out`).
    run: Callable[[JobContext], dict[str, Any]] | None
    describe: Callable[[Job], str]
    # Asked before a start or retry queues a job; raises NothingToDo when a run on the
    # target would change nothing. Takes the target and the job's params.
    check: Callable[[Any, dict[str, Any]], None] | None = None
    # What a job's params ask for, in words for its page (none: nothing to say).
    describe_params: Callable[[dict[str, Any]], list[str]] | None = None
    # For a job whose work is done by child jobs (jobs/family.py): called instead of sending
    # the job to a worker, in the transaction that queues it (a start or a retry), with the
    # user who asked.
    fan_out: Callable[[Job, Any], None] | None = None

    def check_target(self, target: Target, params: dict[str, Any]) -> None:
        """Raise NothingToDo if a run on `target` with `params` would change nothing."""
        if self.check is not None:
            self.check(target, params)
