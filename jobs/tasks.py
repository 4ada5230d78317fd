from celery import shared_task

from . import actions, runner


@shared_task(name="jobs.tasks.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> None:
    runner.run_job(job_id)


@shared_task(name="jobs.tasks.reap_stale_jobs")
def reap_stale_jobs() -> int:
    return actions.reap_stale_jobs()
