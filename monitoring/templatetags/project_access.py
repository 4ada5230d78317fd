"""What a project's pages show depending on who is looking (the tabs' Settings)."""

from __future__ import annotations

from django import template

from monitoring.models import Project
from monitoring.permissions import can_manage

register = template.Library()


@register.simple_tag(takes_context=True)
def manages(context: template.Context, project: Project) -> bool:
    """Whether the signed-in user may manage `project`: `{% manages project as name %}`."""
    return can_manage(context["request"].user, project)
