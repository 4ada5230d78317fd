"""An incremental regroup leaves exactly what a full regroup leaves, reads only around what
changed, and falls back to full whenever it can't trust the sessions; through the
database (SQLite or PostgreSQL, whichever the suite runs on)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from monitoring.grouping import RULES_VERSION, RegroupMode, regroup_deployment
from monitoring.models import (
    CALCULATED_DEPLOYMENT_FIELDS,
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    SourceImage,
)
from tests.factories import START, add_captures, nights
from tests.histories import histories, offset_of
from tests.reference import examples, reference_sessions
from tests.test_grouping import sessions_of


class Rollback(Exception):
    """Undoes what a block wrote."""


def add_capture(deployment: Deployment, timestamp, detection: str | None, rng) -> SourceImage:
    capture = add_captures(deployment, [timestamp])[0]
    if detection == "joins":
        occurrence = Occurrence.objects.filter(deployment=deployment).order_by("pk")
        occurrence = rng.choice(list(occurrence) or [None])
    else:
        occurrence = None
    if detection is not None:
        occurrence = occurrence or Occurrence.objects.create(
            project_id=deployment.project_id, deployment=deployment
        )
        Detection.objects.create(source_image=capture, occurrence=occurrence)
    return capture


def change(deployment: Deployment, gap: int, what: tuple, rng) -> None:
    """One change of tests/histories.py, made as syncs and pipelines make it: rows written
    directly, nothing recounted."""
    captures = SourceImage.objects.filter(deployment=deployment)
    grouped = list(
        captures.filter(event__isnull=False, timestamp__isnull=False).order_by("timestamp", "pk")
    )
    if what[0] == "add":
        _, near_session_start, index, offset, detection = what
        anchors = (
            list(
                Event.objects.filter(deployment=deployment, captures_count__gt=0).values_list(
                    "start", flat=True
                )
            )
            if near_session_start
            else []
        )
        anchors = sorted(
            anchors or [c.timestamp for c in captures.filter(timestamp__isnull=False)] or [START]
        )
        add_capture(
            deployment, anchors[index % len(anchors)] + offset_of(offset, gap), detection, rng
        )
    elif what[0] == "orphan" and grouped:
        _, index, count = what
        chosen = grouped[index % len(grouped) :][:count]
        captures.filter(pk__in=[c.pk for c in chosen]).update(event=None)
    elif what[0] == "undate" and grouped:
        captures.filter(pk=grouped[what[1] % len(grouped)].pk).update(timestamp=None)
    elif what[0] == "add undated":
        add_capture(deployment, None, what[1], rng)


def state(deployment: Deployment, ids_before: set[int]) -> dict:
    """All a regroup decides, comparable between two runs: each capture's and occurrence's
    session (kept ids by id, new ones by their times), every session's stored fields, and
    the deployment's stored counts and recorded settings."""
    sessions = {
        event.pk: (
            event.pk if event.pk in ids_before else "new",
            event.group_by,
            event.start,
            event.end,
            event.captures_count,
            event.detections_count,
            event.occurrences_count,
        )
        for event in Event.objects.filter(deployment=deployment)
    }
    deployment = Deployment.objects.get(pk=deployment.pk)
    return {
        "captures": {
            pk: sessions.get(event_id)
            for pk, event_id in SourceImage.objects.filter(deployment=deployment).values_list(
                "pk", "event_id"
            )
        },
        "occurrences": {
            pk: sessions.get(event_id)
            for pk, event_id in Occurrence.objects.filter(deployment=deployment).values_list(
                "pk", "event_id"
            )
        },
        "sessions": sorted(sessions.values(), key=lambda row: row[2]),
        "deployment": {
            name: getattr(deployment, name)
            for name in [
                *CALCULATED_DEPLOYMENT_FIELDS,
                "sessions_gap_seconds",
                "sessions_rules_version",
            ]
        },
    }


def what_it_wrote(summary) -> tuple:
    return (
        summary.captures_grouped,
        summary.undated_captures_taken_out,
        summary.sessions_created,
        summary.sessions_updated,
        summary.sessions_deleted,
        summary.sessions_total,
        summary.occurrences_relinked,
    )


class TestIncrementalIsFull(HypothesisTestCase):
    @settings(
        max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(history=histories(max_captures=30, max_rounds=2), rng=st.randoms(use_true_random=True))
    def test_an_incremental_regroup_leaves_what_a_full_one_leaves(self, history, rng):
        gap, timestamps, rounds = history
        project = Project.objects.create(name="P", session_time_gap_seconds=gap)
        deployment = Deployment.objects.create(project=project, name="D")
        captures = add_captures(deployment, timestamps)
        # Occurrences of one to three captures, and one with no detection at all.
        for first in range(0, len(captures), 3):
            occurrence = Occurrence.objects.create(project=project, deployment=deployment)
            for capture in captures[first : first + rng.randint(1, 3)]:
                Detection.objects.create(source_image=capture, occurrence=occurrence)
        Occurrence.objects.create(project=project, deployment=deployment)
        # Detections no occurrence holds yet still count in their sessions.
        for capture in captures[::4]:
            Detection.objects.create(source_image=capture)
        assert regroup_deployment(deployment).mode == RegroupMode.FULL

        for changes in rounds:
            for what in changes:
                change(deployment, gap, what, rng)
            ids_before = set(
                Event.objects.filter(deployment=deployment).values_list("pk", flat=True)
            )
            before = state(deployment, ids_before)
            try:
                with transaction.atomic():
                    full = regroup_deployment(Deployment.objects.get(pk=deployment.pk), full=True)
                    after_full = state(deployment, ids_before)
                    raise Rollback
            except Rollback:
                pass

            incremental = regroup_deployment(Deployment.objects.get(pk=deployment.pk))

            assert incremental.mode == RegroupMode.INCREMENTAL
            if incremental.captures_read == 0 and incremental.wrote_nothing:
                # Nothing to do: it answers from the stored counts and leaves them as they
                # were (a raw sync of captures without a timestamp leaves them behind).
                after_full["deployment"] = before["deployment"]
            assert state(deployment, ids_before) == after_full
            assert what_it_wrote(incremental) == what_it_wrote(full)

        everything = list(SourceImage.objects.filter(deployment=deployment).order_by("pk"))
        assert sessions_of(everything) == sorted(
            reference_sessions([c.timestamp for c in everything], gap), key=min
        )
        again = regroup_deployment(Deployment.objects.get(pk=deployment.pk))
        assert again.wrote_nothing and again.captures_read == 0


@pytest.fixture
def grouped(deployment: Deployment) -> Deployment:
    """Six nights of six captures, grouped: the settings are on record."""
    add_captures(deployment, nights(0, 6))
    regroup_deployment(deployment)
    deployment.refresh_from_db()
    return deployment


def session_ids(deployment: Deployment) -> dict[str, int]:
    return dict(Event.objects.filter(deployment=deployment).values_list("group_by", "pk"))


@pytest.mark.django_db
def test_a_full_regroup_records_its_settings_and_the_next_one_is_incremental(deployment):
    add_captures(deployment, nights(0, 2))
    first = regroup_deployment(deployment)
    assert first.mode == RegroupMode.FULL
    assert "aren't on record" in first.full_because
    deployment.refresh_from_db()
    assert (deployment.sessions_gap_seconds, deployment.sessions_rules_version) == (
        7200,
        RULES_VERSION,
    )
    add_captures(deployment, nights(2, 1))

    second = regroup_deployment(deployment)

    assert second.mode == RegroupMode.INCREMENTAL
    assert second.captures_read == 6
    assert second.captures_grouped == 6


@pytest.mark.django_db
def test_new_captures_in_the_last_night_read_that_night_alone(grouped):
    before = session_ids(grouped)
    refreshed_before = dict(
        Event.objects.filter(deployment=grouped).values_list("pk", "calculated_fields_updated_at")
    )
    last_night = nights(5, 1)
    add_captures(grouped, [moment + timedelta(minutes=5) for moment in last_night])

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.INCREMENTAL
    # The new captures, then the night they joined, with them.
    assert summary.captures_read == 6 + 12
    assert summary.captures_grouped == 6
    assert session_ids(grouped) == before
    # Only the last night's session was refreshed: the other five weren't even read.
    refreshed_after = dict(
        Event.objects.filter(deployment=grouped).values_list("pk", "calculated_fields_updated_at")
    )
    changed = [pk for pk, when in refreshed_after.items() if when != refreshed_before[pk]]
    assert changed == [before[last_night[0].isoformat()]]
    assert Event.objects.get(pk=changed[0]).captures_count == 12
    grouped.refresh_from_db()
    assert grouped.captures_count == 42
    assert grouped.source_images_without_event_count == 0


@pytest.mark.django_db
def test_captures_that_lost_their_session_on_two_nights_read_those_nights_alone(grouped):
    before = session_ids(grouped)
    orphaned = [nights(1, 1)[2], nights(4, 1)[0]]
    SourceImage.objects.filter(deployment=grouped, timestamp__in=orphaned).update(event=None)

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.INCREMENTAL
    assert summary.captures_read == 2 + 12
    assert summary.captures_grouped == 2
    assert session_ids(grouped) == before


@pytest.mark.django_db
def test_a_change_in_continuous_monitoring_reads_on_only_until_the_sessions_meet_again(
    deployment,
):
    # A capture every hour for five days: sessions cut every 24 hours, no gap anywhere, so
    # the window must start at the first capture; it ends where the drawing meets today's.
    hourly = [START + timedelta(hours=hour) for hour in range(120)]
    add_captures(deployment, hourly)
    regroup_deployment(deployment)
    before = session_ids(deployment)
    add_captures(deployment, [START + timedelta(hours=30, minutes=30)])

    summary = regroup_deployment(deployment)

    assert summary.mode == RegroupMode.INCREMENTAL
    # The new capture, then the first two sessions (25 + 25 captures, and the new one
    # again), not the three after.
    assert summary.captures_read == 1 + 51
    assert session_ids(deployment) == before
    everything = list(SourceImage.objects.filter(deployment=deployment).order_by("pk"))
    assert sessions_of(everything) == sorted(
        reference_sessions([c.timestamp for c in everything], 7200), key=min
    )


@pytest.mark.django_db
def test_nothing_changed_reads_no_capture_and_no_occurrence_and_writes_nothing(grouped):
    with CaptureQueriesContext(connection) as queries:
        summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.INCREMENTAL
    assert summary.captures_read == 0
    assert summary.wrote_nothing
    assert summary.sessions_total == 6
    sql = [query["sql"] for query in queries.captured_queries]
    assert not [query for query in sql if "monitoring_occurrence" in query]
    assert not [
        query for query in sql if query.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    # The captures are only asked whether any lacks a session, or a timestamp while in
    # one: each through an index of just those, which is empty.
    on_captures = [query for query in sql if "monitoring_sourceimage" in query]
    assert len(on_captures) == 2
    assert all('"event_id" IS NULL' in q or '"timestamp" IS NULL' in q for q in on_captures)


@pytest.mark.django_db
def test_another_gap_redraws_everything_and_is_recorded(project, grouped):
    project.session_time_gap_seconds = 3600
    project.save()

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.FULL
    assert summary.full_because == "its sessions were drawn with a gap of 7,200 seconds, not 3,600"
    assert summary.captures_read == 36
    grouped.refresh_from_db()
    assert grouped.sessions_gap_seconds == 3600
    assert regroup_deployment(grouped).mode == RegroupMode.INCREMENTAL


@pytest.mark.django_db
def test_sessions_drawn_by_older_rules_are_redrawn_in_full(grouped):
    Deployment.objects.filter(pk=grouped.pk).update(sessions_rules_version=RULES_VERSION - 1)

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.FULL
    assert "older version of the grouping rules" in summary.full_because
    grouped.refresh_from_db()
    assert grouped.sessions_rules_version == RULES_VERSION


@pytest.mark.django_db
def test_full_when_asked_even_with_nothing_to_do(grouped):
    summary = regroup_deployment(grouped, full=True)

    assert summary.mode == RegroupMode.FULL
    assert summary.full_because == "it was asked for"
    assert summary.captures_read == 36
    assert summary.wrote_nothing


@pytest.mark.django_db
def test_a_stopped_regroup_leaves_the_settings_off_record_so_the_next_is_full(settings, grouped):
    settings.REGROUP_CHUNK_CAPTURES = 6
    add_captures(grouped, nights(6, 4))

    stopped = regroup_deployment(grouped, should_stop=iter([False, True]).__next__)

    assert stopped.stopped and stopped.mode == RegroupMode.INCREMENTAL
    grouped.refresh_from_db()
    assert grouped.sessions_gap_seconds is None
    assert grouped.source_images_without_event_count == 18
    rerun = regroup_deployment(grouped)
    assert rerun.mode == RegroupMode.FULL
    assert rerun.captures_grouped == 18
    grouped.refresh_from_db()
    assert grouped.sessions_gap_seconds == 7200


@pytest.mark.django_db
def test_a_regroup_cancelled_before_its_first_chunk_stops_cleanly(grouped):
    # As when Cancel is clicked while the job reads: nothing has moved when it stops.
    add_captures(grouped, nights(6, 2))

    stopped = regroup_deployment(grouped, should_stop=lambda: True)

    assert stopped.stopped and stopped.captures_grouped == 0
    assert stopped.occurrences_relinked == 0
    grouped.refresh_from_db()
    assert grouped.source_images_without_event_count == 12
    assert regroup_deployment(grouped).captures_grouped == 12


@pytest.mark.django_db
def test_a_regroup_that_dies_midway_is_completed_by_a_full_one_with_honest_counts(
    settings, monkeypatch, grouped
):
    from monitoring.grouping import apply

    settings.REGROUP_CHUNK_CAPTURES = 6
    SourceImage.objects.filter(deployment=grouped, timestamp__gte=nights(3, 1)[0]).update(
        event=None
    )
    add_captures(grouped, nights(6, 2))
    writes = apply._Writer._write

    def dies_after_one_chunk(self, chunk):
        if self.summary.captures_grouped:
            raise RuntimeError("the worker was killed")
        return writes(self, chunk)

    monkeypatch.setattr(apply._Writer, "_write", dies_after_one_chunk)
    with pytest.raises(RuntimeError):
        regroup_deployment(grouped)
    monkeypatch.undo()
    grouped.refresh_from_db()
    assert grouped.sessions_gap_seconds is None

    rerun = regroup_deployment(grouped)

    assert rerun.mode == RegroupMode.FULL
    for event in Event.objects.filter(deployment=grouped):
        assert event.captures_count == event.captures.count() == 6
        assert event.start == event.captures.order_by("timestamp").first().timestamp
    grouped.refresh_from_db()
    assert grouped.events_count == 8
    assert grouped.source_images_without_event_count == 0
    assert grouped.sessions_gap_seconds == 7200


@pytest.mark.django_db
def test_an_incremental_relink_weighs_each_occurrence_s_detections_off_the_change(grouped):
    """An occurrence with a detection on a moved capture goes to its earliest detection's
    session, also when that detection is on a capture the regroup did not read."""
    night_two = SourceImage.objects.get(deployment=grouped, timestamp=nights(2, 1)[0])
    before_all = START - timedelta(days=1)
    later, earlier = add_captures(grouped, [nights(6, 1)[0], before_all])
    stays = Occurrence.objects.create(project_id=grouped.project_id, deployment=grouped)
    Detection.objects.create(source_image=later, occurrence=stays)
    Detection.objects.create(source_image=night_two, occurrence=stays)
    moves = Occurrence.objects.create(
        project_id=grouped.project_id, deployment=grouped, event=night_two.event
    )
    Detection.objects.create(source_image=night_two, occurrence=moves)
    Detection.objects.create(source_image=earlier, occurrence=moves)

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.INCREMENTAL
    assert summary.captures_read == 2
    earlier.refresh_from_db()
    stays.refresh_from_db()
    moves.refresh_from_db()
    assert stays.event_id == night_two.event_id
    assert moves.event_id == earlier.event_id is not None
    assert summary.occurrences_relinked == 2
    assert Event.objects.get(pk=night_two.event_id).occurrences_count == 1


@pytest.mark.django_db
def test_ungrouped_captures_over_more_than_24_hours_without_a_gap_are_cut_by_the_rules(grouped):
    # Every hour for 60 hours after the sixth night: one run with no gap, which the rules
    # cut every 24 hours from its first capture.
    hourly = [nights(7, 1)[0] + timedelta(hours=hour) for hour in range(60)]
    add_captures(grouped, hourly)

    summary = regroup_deployment(grouped)

    assert summary.mode == RegroupMode.INCREMENTAL
    assert summary.captures_grouped == 60
    everything = list(SourceImage.objects.filter(deployment=grouped).order_by("pk"))
    assert sessions_of(everything) == sorted(
        reference_sessions([c.timestamp for c in everything], 7200), key=min
    )
    assert Event.objects.filter(deployment=grouped).count() == 6 + 3
