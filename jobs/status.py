"""A job's statuses, and the groups of them the rest of the jobs code asks about.

Apart from the models so that the progress shapes, which the models read, can use them.
"""

from django.db import models


class JobStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    PENDING = "PENDING", "Waiting for a worker"
    STARTED = "STARTED", "Running"
    SUCCESS = "SUCCESS", "Succeeded"
    FAILURE = "FAILURE", "Failed"
    CANCELLING = "CANCELLING", "Cancelling"
    REVOKED = "REVOKED", "Cancelled"


ACTIVE_STATUSES = [
    JobStatus.CREATED,
    JobStatus.PENDING,
    JobStatus.STARTED,
    JobStatus.CANCELLING,
]
FINAL_STATUSES = [JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.REVOKED]
# Statuses in which a worker has the job and beats for it.
RUNNING_STATUSES = [JobStatus.STARTED, JobStatus.CANCELLING]
