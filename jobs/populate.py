"""Job type: fill a capture set by its method (wraps monitoring.capture_sets)."""

from __future__ import annotations

from typing import Any

from monitoring.capture_sets import CaptureSetError, PopulateStopped, populate_collection
from monitoring.models import SourceImageCollection

from .job_type import JobContext, JobError, JobStopped, JobType
from .models import POPULATE_JOB, Job, JobStatus


def run(context: JobContext) -> dict[str, Any]:
    collection = context.job.source_image_collection
    if collection is None:
        raise JobError("The capture set of this job no longer exists.")
    stage = context.progress.add_stage("populate", "Add captures to the set", "captures")
    context.log(f"Populating {collection} ({collection.get_method_display().lower()}).")
    stage.start()
    try:
        added = populate_collection(
            collection, progress=stage.update, should_stop=context.should_stop
        )
    except CaptureSetError as error:
        raise JobError(str(error)) from None
    except PopulateStopped as stopped:
        stage.finish(status=JobStatus.REVOKED)
        raise JobStopped(f"{stopped} The capture set is unchanged.") from None
    stage.set_stats(**{"Captures in the set": added})
    stage.finish()
    context.log(f"{collection} now holds {added:,} captures.")
    return {"captures": added}


def describe(job: Job) -> str:
    return f"Populate capture set {job.source_image_collection}"


JOB_TYPE = JobType(
    key=POPULATE_JOB,
    name="Populate capture set",
    target=SourceImageCollection,
    run=run,
    describe=describe,
)
