"""The job types users can start, by key. A new type is its own module, listed here."""

from __future__ import annotations

from . import add_captures, populate, regroup, regroup_all
from .job_type import JobType

JOB_TYPES: dict[str, JobType] = {
    job_type.key: job_type
    for job_type in (
        regroup.JOB_TYPE,
        regroup_all.JOB_TYPE,
        populate.JOB_TYPE,
        add_captures.JOB_TYPE,
    )
}


def get_job_type(key: str) -> JobType:
    return JOB_TYPES[key]
