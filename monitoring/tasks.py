"""Celery tasks of the monitoring app.

Tasks receive ids, never model instances: the row may have changed (or gone) between
dispatch and the moment a worker picks the message up, so each task reads it fresh.
"""

from __future__ import annotations

import logging

from celery import shared_task

from .models import Deployment

logger = logging.getLogger(__name__)


@shared_task
def refresh_deployment_counts(deployment_id: int) -> None:
    """Recount a deployment's stored numbers (captures, sessions, ungrouped captures...)."""
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is None:
        # Deleted after dispatch: nothing to refresh, and retrying would never succeed.
        logger.warning("Deployment %s no longer exists; not refreshing its counts.", deployment_id)
        return
    deployment.update_calculated_fields(save=True)
    logger.info("Refreshed stored counts of deployment %s (%s).", deployment.pk, deployment)
