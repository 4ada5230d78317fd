from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from .models import (
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    ProjectMembership,
    SourceImage,
    SourceImageCollection,
    Taxon,
)
from .tasks import refresh_deployment_counts


class ProjectMembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "is_private", "session_time_gap_seconds", "created_at"]
    search_fields = ["name"]
    inlines = [ProjectMembershipInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "project",
        "captures_count",
        "events_count",
        "source_images_without_event_count",
        "source_images_without_timestamp_count",
    ]
    list_filter = ["project"]
    search_fields = ["name"]
    readonly_fields = ["calculated_fields_updated_at"]
    actions = ["refresh_counts_in_background"]

    @admin.action(description="Refresh stored counts in the background")
    def refresh_counts_in_background(
        self, request: HttpRequest, queryset: QuerySet[Deployment]
    ) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for deployment_id in ids:
            # After commit: a worker must never pick up a message before the rows it reads
            # are visible to it.
            refresh_deployment_counts.delay_on_commit(deployment_id)
        self.message_user(
            request,
            ngettext(
                "Queued a refresh of the stored counts of %(count)d deployment. "
                "The numbers update when a worker has run it.",
                "Queued a refresh of the stored counts of %(count)d deployments. "
                "The numbers update when a worker has run them.",
                len(ids),
            )
            % {"count": len(ids)},
            messages.SUCCESS,
        )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["group_by", "deployment", "start", "end", "captures_count"]
    list_filter = ["project"]
    raw_id_fields = ["deployment", "project"]


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    list_display = ["path", "deployment", "timestamp", "event"]
    list_filter = ["project"]
    raw_id_fields = ["deployment", "project", "event"]
    show_full_result_count = False


@admin.register(Taxon)
class TaxonAdmin(admin.ModelAdmin):
    list_display = ["name", "rank"]
    search_fields = ["name"]


@admin.register(Occurrence)
class OccurrenceAdmin(admin.ModelAdmin):
    list_display = ["pk", "deployment", "event", "determination", "determination_score"]
    list_filter = ["project"]
    raw_id_fields = ["project", "deployment", "event", "determination"]
    show_full_result_count = False


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin):
    list_display = ["pk", "source_image", "occurrence"]
    raw_id_fields = ["source_image", "occurrence"]
    show_full_result_count = False


@admin.register(SourceImageCollection)
class SourceImageCollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "method", "source_images_count"]
    list_filter = ["project"]
    filter_horizontal = []
    raw_id_fields = ["images"]
