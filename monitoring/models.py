"""The monitoring domain, with the upstream platform's model names.

Project → Deployment → SourceImage (capture) → Event (session); Occurrence ← Detection.
Deployments and capture sets keep calculated fields so pages never count big tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models
from django.db.models import Count, F, Func, Max, Min, Q, Sum
from django.urls import reverse
from django.utils import timezone

from .capture_nights import count_capture_nights
from .signals import ungrouped_count_changed

DEFAULT_SESSION_TIME_GAP_SECONDS = 7200


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Nullable and signed on purpose: upstream stores it as a free setting, and the
    # grouping engine falls back to the default (with a warning) when it is not usable.
    session_time_gap_seconds = models.IntegerField(
        default=DEFAULT_SESSION_TIME_GAP_SECONDS,
        null=True,
        blank=True,
        help_text="A gap this long or longer between captures starts a new session.",
    )
    # Who last changed the session gap, and when (the project's Settings page shows it).
    session_gap_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    session_gap_changed_at = models.DateTimeField(null=True, blank=True)
    is_private = models.BooleanField(
        default=True, help_text="Private projects are visible to their members only."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project-detail", args=[self.pk])


class ProjectMembership(models.Model):
    class Role(models.TextChoices):
        BASIC_MEMBER = "basic_member", "Basic member"
        PROJECT_MANAGER = "project_manager", "Project manager"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.BASIC_MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="unique_project_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.get_role_display()})"


class Deployment(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="deployments", null=True
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Calculated fields, refreshed by update_calculated_fields().
    captures_count = models.PositiveIntegerField(default=0)
    events_count = models.PositiveIntegerField(default=0)
    occurrences_count = models.PositiveIntegerField(default=0)
    taxa_count = models.PositiveIntegerField(default=0)
    detections_count = models.PositiveIntegerField(default=0)
    first_capture_timestamp = models.DateTimeField(null=True, blank=True)
    last_capture_timestamp = models.DateTimeField(null=True, blank=True)
    source_images_without_event_count = models.PositiveIntegerField(
        default=0, help_text="Captures with a timestamp but no session: what Regroup fixes."
    )
    source_images_without_timestamp_count = models.PositiveIntegerField(
        default=0, help_text="Captures with no timestamp: they can't be grouped."
    )
    occurrences_without_event_count = models.PositiveIntegerField(
        default=0, help_text="Occurrences with no session: what the occurrence banner reports."
    )
    capture_nights = models.JSONField(
        default=list, blank=True, help_text="Grouped and ungrouped captures per night (bars)."
    )
    calculated_fields_updated_at = models.DateTimeField(null=True, blank=True)

    # The settings its sessions were drawn under by the last regroup that finished (None:
    # none has, or one that wrote was stopped or died since). While they match, a regroup
    # redraws only around what changed since.
    sessions_gap_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="The session gap its sessions were last drawn under."
    )
    sessions_rules_version = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The version of the grouping rules its sessions were last drawn under.",
    )

    class Meta:
        ordering = ["name", "pk"]
        indexes = [
            # The project rollup lists deployments that have ungrouped captures.
            models.Index(
                fields=["project", "source_images_without_event_count"],
                name="deployment_ungrouped_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deployment-detail", args=[self.project_id, self.pk])

    def update_calculated_fields(self, save: bool = True, from_sessions: bool = False) -> bool:
        """Recount the stored numbers; save them if asked and if any changed.

        Returns whether any number changed, so a refresh that finds nothing new writes
        nothing (a second regroup must not write).

        `from_sessions` takes the captures, detections and first and last capture from the
        sessions' stored counts, adding those of the captures without a session: it reads
        no capture that is in a session. That is exact when the sessions' counts are, as
        after a regroup, which refreshes every session it changes.
        """
        before = [getattr(self, name) for name in CALCULATED_DEPLOYMENT_FIELDS]
        before_ungrouped = self.source_images_without_event_count
        if from_sessions:
            self._count_captures_from_sessions()
        else:
            self._count_captures()
        occurrences = Occurrence.objects.filter(deployment=self).aggregate(
            total=Count("pk"),
            taxa=Count("determination", distinct=True),
            without_event=Count("pk", filter=Q(event__isnull=True)),
        )
        self.events_count = Event.objects.filter(deployment=self).count()
        self.occurrences_count = occurrences["total"]
        self.taxa_count = occurrences["taxa"]
        self.occurrences_without_event_count = occurrences["without_event"]
        self.capture_nights = count_capture_nights(self)
        changed = before != [getattr(self, name) for name in CALCULATED_DEPLOYMENT_FIELDS]
        if changed or self.calculated_fields_updated_at is None:
            self.calculated_fields_updated_at = timezone.now()
            if save:
                self.save(
                    update_fields=[*CALCULATED_DEPLOYMENT_FIELDS, "calculated_fields_updated_at"]
                )
                if before_ungrouped != self.source_images_without_event_count:
                    ungrouped_count_changed.send(sender=Deployment, deployment=self)
        return changed

    def _count_captures(self) -> None:
        captures = SourceImage.objects.filter(deployment=self).aggregate(
            total=Count("pk"),
            first=Min("timestamp"),
            last=Max("timestamp"),
            without_event=Count("pk", filter=Q(event__isnull=True, timestamp__isnull=False)),
            without_timestamp=Count("pk", filter=Q(timestamp__isnull=True)),
        )
        self.captures_count = captures["total"]
        self.first_capture_timestamp = captures["first"]
        self.last_capture_timestamp = captures["last"]
        self.source_images_without_event_count = captures["without_event"]
        self.source_images_without_timestamp_count = captures["without_timestamp"]
        self.detections_count = Detection.objects.filter(source_image__deployment=self).count()

    def _count_captures_from_sessions(self) -> None:
        sessions = Event.objects.filter(deployment=self, captures_count__gt=0).aggregate(
            captures=Sum("captures_count"),
            detections=Sum("detections_count"),
            first=Min("start"),
            last=Max("end"),
        )
        # After a regroup every capture without a timestamp is out of its session, so these
        # are all in the small index of captures without a session. COUNT(*) rather than
        # of ids, so the database can answer from that index alone.
        loose = SourceImage.objects.filter(deployment=self, event__isnull=True)
        counts = loose.aggregate(
            total=Count("*"),
            dated=Count("timestamp"),
            first=Min("timestamp"),
            last=Max("timestamp"),
        )
        ungrouped = counts["dated"]
        self.captures_count = (sessions["captures"] or 0) + counts["total"]
        firsts = [moment for moment in (sessions["first"], counts["first"]) if moment]
        lasts = [moment for moment in (sessions["last"], counts["last"]) if moment]
        self.first_capture_timestamp = min(firsts, default=None)
        self.last_capture_timestamp = max(lasts, default=None)
        self.source_images_without_event_count = ungrouped
        self.source_images_without_timestamp_count = counts["total"] - ungrouped
        # Through the index on timestamps for the captures without one; those with one are
        # looked at only when some are left without a session.
        detections = Detection.objects.filter(source_image__in=loose.filter(timestamp__isnull=True))
        self.detections_count = (sessions["detections"] or 0) + detections.count()
        if ungrouped:
            self.detections_count += Detection.objects.filter(
                source_image__in=loose.filter(timestamp__isnull=False)
            ).count()


CALCULATED_DEPLOYMENT_FIELDS = [
    "captures_count",
    "events_count",
    "occurrences_count",
    "taxa_count",
    "detections_count",
    "first_capture_timestamp",
    "last_capture_timestamp",
    "source_images_without_event_count",
    "source_images_without_timestamp_count",
    "occurrences_without_event_count",
    "capture_nights",
]


class EventQuerySet(models.QuerySet):
    def update_calculated_fields(self) -> int:
        """Refresh the cached start, end and counts of these sessions; return how many
        changed.

        Per batch of sessions: three grouped queries (not three lookups per session) and
        one bulk update of those whose numbers changed, so refreshing sessions that are
        right writes nothing. A session with no captures left keeps its old start and end
        (the columns are required); it is then deleted by the regroup or still holds
        occurrences.

        On PostgreSQL, one statement for all of them instead.
        """
        if connection.vendor == "postgresql":
            return _refresh_events_in_one_statement(self)
        updated = 0
        events = list(self.order_by("pk"))
        for start in range(0, len(events), REFRESH_BATCH):
            updated += _refresh_events(events[start : start + REFRESH_BATCH])
        return updated


REFRESH_BATCH = 500


def _refresh_events(events: list[Event]) -> int:
    ids = [event.pk for event in events]
    captures = {
        row["event"]: row
        for row in SourceImage.objects.filter(event__in=ids)
        .values("event")
        .annotate(n=Count("pk"), first=Min("timestamp"), last=Max("timestamp"))
        .order_by()
    }
    detections = dict(
        Detection.objects.filter(source_image__event__in=ids)
        .values_list("source_image__event")
        .annotate(n=Count("pk"))
        .order_by()
    )
    occurrences = dict(
        Occurrence.objects.filter(event__in=ids)
        .values_list("event")
        .annotate(n=Count("pk"))
        .order_by()
    )
    now = timezone.now()
    changed = []
    for event in events:
        row = captures.get(event.pk)
        fresh = {
            "start": row["first"] if row else event.start,
            "end": row["last"] if row else event.end,
            "captures_count": row["n"] if row else 0,
            "detections_count": detections.get(event.pk, 0),
            "occurrences_count": occurrences.get(event.pk, 0),
        }
        if event.calculated_fields_updated_at is None or any(
            getattr(event, name) != value for name, value in fresh.items()
        ):
            for name, value in fresh.items():
                setattr(event, name, value)
            event.calculated_fields_updated_at = now
            changed.append(event)
    return _save_fields(changed, CALCULATED_EVENT_FIELDS)


def _refresh_events_in_one_statement(events: EventQuerySet) -> int:
    """PostgreSQL: EventQuerySet.update_calculated_fields in one UPDATE ... FROM.

    The sessions' captures are read once, for their counts, spans and (joined to the
    detections) their detections: the grouped queries read the capture table twice, the
    second time only to count detections. The ids go in as values, so the planner knows
    how many captures they hold. Only the sessions whose numbers differ are written.
    """
    ids = list(events.order_by().values_list("pk", flat=True))
    if not ids:
        return 0
    quote = connection.ops.quote_name
    event, capture, detection, occurrence = (
        quote(model._meta.db_table) for model in (Event, SourceImage, Detection, Occurrence)
    )
    sql = f"""
        WITH captures AS MATERIALIZED (
            SELECT id, event_id, timestamp FROM {capture} WHERE event_id = ANY(%(ids)s)),
        fresh AS (
            SELECT t.id, s.first, s.last, coalesce(s.captures, 0) AS captures,
                coalesce(d.detections, 0) AS detections,
                coalesce(o.occurrences, 0) AS occurrences
            FROM unnest(%(ids)s) AS t (id)
            LEFT JOIN (
                SELECT event_id, count(*) AS captures, min(timestamp) AS first,
                    max(timestamp) AS last
                FROM captures GROUP BY event_id
            ) s ON s.event_id = t.id
            LEFT JOIN (
                SELECT c.event_id, count(*) AS detections
                FROM captures c JOIN {detection} dd ON dd.source_image_id = c.id
                GROUP BY c.event_id
            ) d ON d.event_id = t.id
            LEFT JOIN (
                SELECT event_id, count(*) AS occurrences FROM {occurrence}
                WHERE event_id = ANY(%(ids)s) GROUP BY event_id
            ) o ON o.event_id = t.id)
        UPDATE {event} e SET start = coalesce(f.first, e.start), "end" = coalesce(f.last, e."end"),
            captures_count = f.captures, detections_count = f.detections,
            occurrences_count = f.occurrences, calculated_fields_updated_at = %(now)s
        FROM fresh f
        WHERE e.id = f.id AND (e.calculated_fields_updated_at IS NULL
            OR (e.start, e."end", e.captures_count, e.detections_count, e.occurrences_count)
                IS DISTINCT FROM (coalesce(f.first, e.start), coalesce(f.last, e."end"),
                    f.captures, f.detections, f.occurrences))
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "now": timezone.now()})
        return cursor.rowcount


class SessionCounts(NamedTuple):
    """A session's calculated fields, as a recount of its captures would find them."""

    start: datetime
    end: datetime
    captures: int
    detections: int
    occurrences: int


def save_session_counts(counts: Mapping[int, SessionCounts]) -> int:
    """Write the calculated fields of sessions (by id) known without reading their
    captures: a regroup knows those of the sessions it made from what it moved."""
    now = timezone.now()
    events = [
        Event(
            pk=event_id,
            start=known.start,
            end=known.end,
            captures_count=known.captures,
            detections_count=known.detections,
            occurrences_count=known.occurrences,
            calculated_fields_updated_at=now,
        )
        for event_id, known in counts.items()
    ]
    return _save_fields(events, CALCULATED_EVENT_FIELDS)


def _save_fields(objects: list[models.Model], names: list[str]) -> int:
    """Write these fields of each object.

    On PostgreSQL, one UPDATE joining the rows sent as one array per column; elsewhere one
    UPDATE per object, all sent at once. Django's bulk_update builds one CASE per object
    and field, which took longer to build than the database took to run it (0.6 s for a
    regroup's 344 sessions).
    """
    if not objects:
        return 0
    meta = objects[0]._meta
    fields = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [obj.pk]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [*fields, meta.pk]
            arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in columns)
            names_sql = ", ".join(f"c{index}" for index in range(len(columns)))
            assignments = ", ".join(
                f"{quote(field.column)} = v.c{index}" for index, field in enumerate(fields)
            )
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v ({names_sql}) "
                f"WHERE {table}.{pk} = v.c{len(fields)}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)
    return len(objects)


class Event(models.Model):
    """A monitoring session: a deployment's captures grouped by time gaps."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    # Unique per deployment. Upstream keys sessions by start date, which merges two
    # sessions that start on the same day; the start time keeps them apart.
    group_by = models.CharField(max_length=64)
    start = models.DateTimeField()
    end = models.DateTimeField()
    captures_count = models.PositiveIntegerField(default=0)
    detections_count = models.PositiveIntegerField(default=0)
    occurrences_count = models.PositiveIntegerField(default=0)
    calculated_fields_updated_at = models.DateTimeField(null=True, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["deployment", "start", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "group_by"], name="unique_event_group_by_per_deployment"
            )
        ]
        indexes = [
            models.Index(fields=["deployment", "start"], name="event_deployment_start_idx"),
            # Sessions longer than the rules allow, found per project without reading the
            # others (monitoring.staleness).
            models.Index(F("project"), F("end") - F("start"), name="event_project_length_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment} · {self.start:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("session-detail", args=[self.project_id, self.pk])

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def update_calculated_fields(self) -> None:
        Event.objects.filter(pk=self.pk).update_calculated_fields()
        self.refresh_from_db(fields=CALCULATED_EVENT_FIELDS)


CALCULATED_EVENT_FIELDS = [
    "start",
    "end",
    "captures_count",
    "detections_count",
    "occurrences_count",
    "calculated_fields_updated_at",
]


# Paths are compared through their first characters, which an index can hold on every
# database (a whole path may be too long for a PostgreSQL index entry).
PATH_START_LENGTH = 255


class PathStart(Func):
    """The first PATH_START_LENGTH characters of a path, written the same way in the index
    and in queries (a literal, not a parameter, so SQLite matches the index's expression)."""

    function = "SUBSTR"
    template = f"%(function)s(%(expressions)s, 1, {PATH_START_LENGTH})"
    output_field = models.CharField()


class SourceImage(models.Model):
    """A capture: one photo taken by a deployment's camera."""

    # No single-column indexes on deployment and event: the (deployment, timestamp) and
    # (event, timestamp) indexes serve those lookups, and every index on `event` is one
    # more write for each capture a regroup moves.
    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="captures", db_index=False
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="captures")
    event = models.ForeignKey(
        Event,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="captures",
        db_index=False,
    )
    timestamp = models.DateTimeField(null=True, blank=True)
    path = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "timestamp", "pk"]
        indexes = [
            models.Index(fields=["deployment", "timestamp"], name="capture_deployment_time_idx"),
            models.Index(fields=["event", "timestamp"], name="capture_event_time_idx"),
            # Captures Regroup can fix, per deployment: small even when the table is huge.
            models.Index(
                fields=["deployment", "timestamp"],
                condition=Q(event__isnull=True),
                name="capture_without_event_idx",
            ),
            # Captures that lost their timestamp but not their session, which a regroup
            # takes out: empty but for those, so finding there are none reads nothing.
            models.Index(
                fields=["deployment", "event"],
                condition=Q(timestamp__isnull=True, event__isnull=False),
                name="capture_undated_in_event_idx",
            ),
            # Adding captures skips paths the deployment already has.
            models.Index(F("deployment"), PathStart("path"), name="capture_deployment_path_idx"),
        ]

    def __str__(self) -> str:
        return self.path


class Taxon(models.Model):
    name = models.CharField(max_length=200, unique=True)
    rank = models.CharField(max_length=32, default="species")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "taxa"

    def __str__(self) -> str:
        return self.name


class Occurrence(models.Model):
    # No single-column indexes on project, deployment and event: the indexes below lead
    # with each of them, and a regroup that relinks an occurrence writes every index.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="occurrences", db_index=False
    )
    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="occurrences", db_index=False
    )
    event = models.ForeignKey(
        Event,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="occurrences",
        db_index=False,
    )
    determination = models.ForeignKey(
        Taxon, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    determination_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["project", "event"], name="occurrence_project_event_idx"),
            models.Index(fields=["deployment", "event"], name="occurrence_deploy_event_idx"),
            models.Index(fields=["event", "determination"], name="occurrence_event_taxon_idx"),
            # The occurrence list's taxon choices and taxon filter, per project; with event
            # and deployment, its banner's count by taxon reads the index alone.
            models.Index(
                fields=["project", "determination", "event", "deployment"],
                name="occurrence_project_taxon_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Occurrence #{self.pk}"


class Detection(models.Model):
    source_image = models.ForeignKey(
        SourceImage, on_delete=models.CASCADE, related_name="detections"
    )
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.CASCADE, null=True, blank=True, related_name="detections"
    )
    bbox = models.JSONField(null=True, blank=True, help_text="[x1, y1, x2, y2] in pixels")

    class Meta:
        indexes = [
            models.Index(fields=["occurrence", "source_image"], name="detection_occurrence_idx")
        ]

    def __str__(self) -> str:
        return f"Detection #{self.pk}"


class SourceImageCollection(models.Model):
    """A capture set: a sample of a project's captures, filled by its method."""

    class Method(models.TextChoices):
        RANDOM = "random", "Random sample"
        INTERVAL = "interval", "Every Nth capture"
        DATE_RANGE = "date_range", "Captures in a date range"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="capture_sets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    method = models.CharField(max_length=32, choices=Method.choices, default=Method.RANDOM)
    kwargs = models.JSONField(
        default=dict, blank=True, help_text='The method\'s parameters, e.g. {"size": 100}.'
    )
    images = models.ManyToManyField(SourceImage, blank=True, related_name="collections")
    source_images_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "capture set"

    def __str__(self) -> str:
        return self.name

    def update_calculated_fields(self, save: bool = True) -> None:
        self.source_images_count = self.images.count()
        if save:
            self.save(update_fields=["source_images_count", "updated_at"])
