from django.urls import path

from . import capture_sets, deployments, occurrences, projects, sessions

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
]
