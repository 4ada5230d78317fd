from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from monitoring.models import Project

from .access import with_visible_project
from .http import HtmxHttpRequest
from .pagination import page_of


@require_GET
@with_visible_project
def capture_set_list(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    context = {"project": project, "capture_sets": page_of(request, project.capture_sets.all())}
    return render(request, "capture_set_list.html", context)
