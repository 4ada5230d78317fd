"""Fill a capture set (SourceImageCollection) by its method.

Methods and their parameters (the set's `kwargs`):
- random: `size` captures picked at random;
- interval: every `every`-th capture, in time order per deployment;
- date_range: captures taken from `start` to `end` (ISO dates, both included).
Any method may name a `deployment_id` to sample one deployment only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import SourceImage, SourceImageCollection

WRITE_BATCH = 5_000
MAX_SAMPLE = 100_000


class CaptureSetError(Exception):
    """The capture set's method or parameters can't be used; the message is for people."""


class PopulateStopped(Exception):
    """A stop was asked before the new content was saved; the set is unchanged."""


def select_capture_ids(collection: SourceImageCollection) -> list[int]:
    method, params = collection.method, collection.kwargs or {}
    captures = SourceImage.objects.filter(project=collection.project_id)
    if params.get("deployment_id") is not None:
        captures = captures.filter(deployment_id=_positive(params, "deployment_id"))
    if method == SourceImageCollection.Method.RANDOM:
        size = min(_positive(params, "size"), MAX_SAMPLE)
        return list(captures.order_by("?").values_list("pk", flat=True)[:size])
    if method == SourceImageCollection.Method.INTERVAL:
        return _every_nth(captures, _positive(params, "every"))
    if method == SourceImageCollection.Method.DATE_RANGE:
        start, end = _date(params, "start"), _date(params, "end")
        if end < start:
            raise CaptureSetError(f"The date range ends ({end}) before it starts ({start}).")
        day_after = end + timedelta(days=1)
        return list(
            captures.filter(
                timestamp__gte=timezone.make_aware(datetime.combine(start, time.min)),
                timestamp__lt=timezone.make_aware(datetime.combine(day_after, time.min)),
            )
            .order_by("timestamp", "pk")
            .values_list("pk", flat=True)[:MAX_SAMPLE]
        )
    raise CaptureSetError(f"Unknown capture set method {method!r}.")


def populate_collection(
    collection: SourceImageCollection,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Replace the set's captures by a new selection, all at once; return how many.

    One transaction: a stop or a crash leaves the set as it was before.
    """
    ids = select_capture_ids(collection)
    through = SourceImageCollection.images.through
    report = progress or (lambda done, total: None)
    with transaction.atomic():
        through.objects.filter(sourceimagecollection=collection).delete()
        for start in range(0, len(ids), WRITE_BATCH):
            if should_stop and should_stop():
                raise PopulateStopped(f"Stopped after {start:,} of {len(ids):,} captures.")
            through.objects.bulk_create(
                through(sourceimagecollection_id=collection.pk, sourceimage_id=pk)
                for pk in ids[start : start + WRITE_BATCH]
            )
            report(min(start + WRITE_BATCH, len(ids)), len(ids))
        collection.update_calculated_fields(save=True)
    report(len(ids), len(ids))
    return len(ids)


def _every_nth(captures: QuerySet[SourceImage], every: int) -> list[int]:
    ordered = captures.order_by("deployment_id", "timestamp", "pk").values_list("pk", flat=True)
    picked = []
    for index, pk in enumerate(ordered.iterator(chunk_size=20_000)):
        if index % every == 0:
            picked.append(pk)
            if len(picked) >= MAX_SAMPLE:
                break
    return picked


def _positive(params: dict, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CaptureSetError(f"The parameter {name!r} must be a positive whole number.")
    return value


def _date(params: dict, name: str) -> date:
    try:
        return date.fromisoformat(str(params.get(name)))
    except ValueError:
        raise CaptureSetError(
            f"The parameter {name!r} must be a date like 2024-06-01, not {params.get(name)!r}."
        ) from None
