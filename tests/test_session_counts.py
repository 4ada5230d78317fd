"""Refreshing sessions' stored counts: exactly a recount, on each database's path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count, Max, Min

from monitoring.models import Detection, Event, Occurrence
from tests.factories import START, add_captures, make_occurrences, make_session

pytestmark = pytest.mark.django_db


def recount(event: Event) -> dict:
    captures = event.captures.aggregate(
        n=Count("pk"), first=Min("timestamp"), last=Max("timestamp")
    )
    return {
        "start": captures["first"] or event.start,
        "end": captures["last"] or event.end,
        "captures_count": captures["n"],
        "detections_count": Detection.objects.filter(source_image__event=event).count(),
        "occurrences_count": Occurrence.objects.filter(event=event).count(),
    }


def stored(event: Event) -> dict:
    event.refresh_from_db()
    return {name: getattr(event, name) for name in recount(event)}


def test_refreshing_sessions_writes_a_recount_and_only_the_sessions_asked(deployment):
    busy = make_session(deployment, START, captures_count=99, detections_count=99)
    emptied = make_session(deployment, START + timedelta(days=1), captures_count=5)
    untouched = make_session(deployment, START + timedelta(days=2), captures_count=7)
    captures = add_captures(deployment, [START + timedelta(minutes=m) for m in (5, 0, 30)])
    for capture in captures:
        capture.event = busy
        capture.save()
    # Two detections on one capture, one on another, one of each on no occurrence.
    first, second = make_occurrences(deployment, 2, event=busy)
    Detection.objects.bulk_create(
        [
            Detection(source_image=captures[0], occurrence=first),
            Detection(source_image=captures[0], occurrence=None),
            Detection(source_image=captures[2], occurrence=second),
        ]
    )
    make_occurrences(deployment, 1, event=emptied)
    emptied_span = (emptied.start, emptied.end)

    changed = Event.objects.filter(pk__in=[busy.pk, emptied.pk]).update_calculated_fields()

    assert changed == 2
    assert (
        stored(busy)
        == recount(busy)
        == {
            "start": START,
            "end": START + timedelta(minutes=30),
            "captures_count": 3,
            "detections_count": 3,
            "occurrences_count": 2,
        }
    )
    # No captures left: the span stays as it was (the columns are required).
    assert stored(emptied) == recount(emptied)
    assert (emptied.start, emptied.end, emptied.captures_count) == (*emptied_span, 0)
    assert emptied.occurrences_count == 1
    untouched.refresh_from_db()
    assert untouched.captures_count == 7 and untouched.calculated_fields_updated_at is None
    # Right already: nothing written.
    assert (
        Event.objects.filter(deployment=deployment)
        .exclude(pk=untouched.pk)
        .update_calculated_fields()
        == 0
    )
    assert Event.objects.none().update_calculated_fields() == 0
