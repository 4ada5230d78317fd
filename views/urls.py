from django.urls import path

from . import capture_sets, deployments, jobs, occurrences, projects, sessions

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("projects/<int:project_id>/", projects.project_detail, name="project-detail"),
    path(
        "projects/<int:project_id>/deployments/<int:deployment_id>/",
        deployments.deployment_detail,
        name="deployment-detail",
    ),
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
    path("projects/<int:project_id>/jobs/", jobs.job_list, name="job-list"),
    path("projects/<int:project_id>/jobs/<int:job_id>/", jobs.job_detail, name="job-detail"),
    path("projects/<int:project_id>/jobs/<int:job_id>/row/", jobs.job_row, name="job-row"),
    path("projects/<int:project_id>/jobs/<int:job_id>/live/", jobs.job_live, name="job-live"),
    path("projects/<int:project_id>/jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job-cancel"),
    path("projects/<int:project_id>/jobs/<int:job_id>/retry/", jobs.job_retry, name="job-retry"),
]
