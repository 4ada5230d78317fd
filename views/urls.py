from django.urls import path

from . import (
    add_captures,
    capture_sets,
    captures,
    deployment_card,
    deployments,
    jobs,
    occurrences,
    projects,
    sessions,
    settings,
)

DEPLOYMENT = "projects/<int:project_id>/deployments/<int:deployment_id>/"

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("projects/<int:project_id>/", projects.project_detail, name="project-detail"),
    path(
        "projects/<int:project_id>/regroup-all/", projects.regroup_all, name="project-regroup-all"
    ),
    path(
        "projects/<int:project_id>/regroup-all/progress/",
        projects.regroup_all_progress,
        name="project-regroup-all-progress",
    ),
    path(DEPLOYMENT, deployments.deployment_detail, name="deployment-detail"),
    path(f"{DEPLOYMENT}captures/", captures.capture_list, name="capture-list"),
    path(f"{DEPLOYMENT}regroup/", deployment_card.regroup, name="deployment-regroup"),
    path(
        f"{DEPLOYMENT}regroup/full/", deployment_card.regroup_full, name="deployment-regroup-full"
    ),
    path(
        f"{DEPLOYMENT}regroup/progress/",
        deployment_card.regroup_progress,
        name="deployment-regroup-progress",
    ),
    path(
        f"{DEPLOYMENT}regroup/cancel/",
        deployment_card.regroup_cancel,
        name="deployment-regroup-cancel",
    ),
    path(
        f"{DEPLOYMENT}regroup/retry/",
        deployment_card.regroup_retry,
        name="deployment-regroup-retry",
    ),
    path(f"{DEPLOYMENT}captures/add/", add_captures.add_captures, name="deployment-add-captures"),
    path(
        f"{DEPLOYMENT}captures/add/progress/",
        add_captures.add_captures_progress,
        name="deployment-add-captures-progress",
    ),
    path(
        f"{DEPLOYMENT}captures/add/cancel/",
        add_captures.add_captures_cancel,
        name="deployment-add-captures-cancel",
    ),
    path(
        f"{DEPLOYMENT}captures/add/retry/",
        add_captures.add_captures_retry,
        name="deployment-add-captures-retry",
    ),
    path(f"{DEPLOYMENT}dismiss/", deployment_card.dismiss_card, name="deployment-card-dismiss"),
    path(f"{DEPLOYMENT}show/", deployment_card.show_card, name="deployment-card-show"),
    path(f"{DEPLOYMENT}rollup-row/", projects.rollup_row, name="deployment-rollup-row"),
    path("projects/<int:project_id>/settings/", settings.project_settings, name="project-settings"),
    path("projects/<int:project_id>/sessions/", sessions.session_list, name="session-list"),
    path(
        "projects/<int:project_id>/sessions/<int:session_id>/",
        sessions.session_detail,
        name="session-detail",
    ),
    path(
        "projects/<int:project_id>/occurrences/",
        occurrences.occurrence_list,
        name="occurrence-list",
    ),
    path(
        "projects/<int:project_id>/capture-sets/",
        capture_sets.capture_set_list,
        name="capture-set-list",
    ),
    path(
        "projects/<int:project_id>/capture-sets/<int:capture_set_id>/populate/",
        capture_sets.capture_set_populate,
        name="capture-set-populate",
    ),
    path(
        "projects/<int:project_id>/capture-sets/<int:capture_set_id>/progress/",
        capture_sets.capture_set_progress,
        name="capture-set-progress",
    ),
    path("projects/<int:project_id>/jobs/", jobs.job_list, name="job-list"),
    path("projects/<int:project_id>/jobs/<int:job_id>/", jobs.job_detail, name="job-detail"),
    path("projects/<int:project_id>/jobs/<int:job_id>/row/", jobs.job_row, name="job-row"),
    path("projects/<int:project_id>/jobs/<int:job_id>/live/", jobs.job_live, name="job-live"),
    path("projects/<int:project_id>/jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job-cancel"),
    path("projects/<int:project_id>/jobs/<int:job_id>/retry/", jobs.job_retry, name="job-retry"),
]
