"""seed_demo --reset rebuilds the demo in place: pages open in a browser keep working."""

from __future__ import annotations

import pytest

from jobs.models import Job
from monitoring.demo import BIG_DEPLOYMENT, PROJECT_NAME
from monitoring.models import Deployment, Project, SourceImage
from suggestions.dismissals import dismiss
from suggestions.models import SuggestionDismissal
from suggestions.ungrouped_captures import UNGROUPED_CAPTURES
from tests.factories import run_command

pytestmark = pytest.mark.django_db


def test_reset_keeps_the_project_and_deployment_ids_and_prints_their_pages(django_user_model):
    run_command("seed_demo", "--captures", "2000")
    project = Project.objects.get(name=PROJECT_NAME)
    deployments = dict(project.deployments.values_list("name", "pk"))
    big = project.deployments.get(name=BIG_DEPLOYMENT)
    first_captures = set(SourceImage.objects.filter(project=project).values_list("pk", flat=True))
    Job.objects.create(name="An old job", job_type_key="regroup_sessions", project=project)
    dismiss(django_user_model.objects.get(username="demo"), UNGROUPED_CAPTURES.key, big.pk, 500)

    output = run_command("seed_demo", "--captures", "2000", "--reset")

    assert Project.objects.filter(name=PROJECT_NAME).get().pk == project.pk
    assert dict(project.deployments.values_list("name", "pk")) == deployments
    assert f"Project page: /projects/{project.pk}/" in output
    assert f"/projects/{project.pk}/deployments/{big.pk}/" in output
    # Everything under the deployments is new, and the old demo's jobs and dismissals are gone.
    captures = set(SourceImage.objects.filter(project=project).values_list("pk", flat=True))
    assert captures and not captures & first_captures
    assert not Job.objects.filter(project=project).exists()
    assert not SuggestionDismissal.objects.exists()
    big.refresh_from_db()
    assert big.captures_count == 2000 + 12  # and 12 without a timestamp
    assert 0 < big.source_images_without_event_count < big.captures_count
    assert Deployment.objects.filter(project=project).count() == 4
