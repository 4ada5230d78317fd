"""The regroup engine against the grouping rules, the incident, and its safety promises."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from monitoring.grouping import regroup_deployment
from monitoring.grouping.plan import Window, read_plan
from monitoring.grouping.rules import to_epoch_microseconds
from monitoring.grouping.sql import gap_runs
from monitoring.locks import DeploymentBusy, deployment_lock
from monitoring.models import (
    Deployment,
    Detection,
    Event,
    Occurrence,
    Project,
    SourceImage,
    Taxon,
)
from tests.factories import START, add_captures, nights
from tests.reference import capture_timestamps, reference_sessions

GAP = 7200


def sessions_of(captures: list[SourceImage]) -> list[set[int]]:
    """Capture indexes grouped by their session as stored, ordered like the reference."""
    index_of = {capture.pk: index for index, capture in enumerate(captures)}
    grouped: dict[int, set[int]] = {}
    rows = SourceImage.objects.filter(pk__in=index_of, event__isnull=False)
    for pk, event_id in rows.values_list("pk", "event_id"):
        grouped.setdefault(event_id, set()).add(index_of[pk])
    return sorted(grouped.values(), key=min)


def write_queries(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


class TestRulesProperty(HypothesisTestCase):
    """The whole engine, through the database; tests/test_grouping_rules.py puts the pure
    rules and the plan through many more examples without one."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        timestamps=capture_timestamps(START, GAP),
        pre_grouped=st.integers(min_value=0, max_value=3),
    )
    def test_regroup_matches_the_reference(self, timestamps, pre_grouped):
        project = Project.objects.create(name="P", session_time_gap_seconds=GAP)
        deployment = Deployment.objects.create(project=project, name="D")
        captures = add_captures(deployment, timestamps)
        # Some captures already sit in arbitrary (wrong) sessions, as after old imports.
        for number in range(pre_grouped):
            event = Event.objects.create(
                deployment=deployment,
                project=project,
                group_by=f"old-{number}",
                start=START,
                end=START,
            )
            SourceImage.objects.filter(pk__in=[c.pk for c in captures[number::4]]).update(
                event=event
            )

        summary = regroup_deployment(deployment)

        expected = reference_sessions(timestamps, GAP)
        assert sessions_of(captures) == sorted(expected, key=min)
        assert summary.captures_without_timestamp == timestamps.count(None)
        deployment.refresh_from_db()
        assert deployment.source_images_without_event_count == 0
        assert deployment.events_count == len(expected)
        assert deployment.source_images_without_timestamp_count == timestamps.count(None)
        for event in Event.objects.filter(deployment=deployment):
            members = event.captures.order_by("timestamp")
            assert event.captures_count == members.count()
            assert event.start == members.first().timestamp
            assert event.end == members.last().timestamp

        assert regroup_deployment(deployment).wrote_nothing


class TestGapRunsProperty(HypothesisTestCase):
    """The database's runs of captures between gaps, which an incremental regroup draws
    its new sessions from, against the same runs found in Python."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(timestamps=capture_timestamps(START, GAP))
    def test_runs_between_gaps_with_their_counts_and_shared_timestamps(self, timestamps):
        project = Project.objects.create(name="P", session_time_gap_seconds=GAP)
        deployment = Deployment.objects.create(project=project, name="D")
        add_captures(deployment, timestamps)
        runs: list[list[datetime]] = []
        for moment in sorted(t for t in timestamps if t is not None):
            if runs and moment - runs[-1][-1] < timedelta(seconds=GAP):
                runs[-1].append(moment)
            else:
                runs.append([moment])
        expected = [
            (
                to_epoch_microseconds(run[0]),
                to_epoch_microseconds(run[-1]),
                len(run),
                sum(run.count(moment) > 1 for moment in set(run)),
            )
            for run in runs
        ]
        dated = SourceImage.objects.filter(deployment=deployment, timestamp__isnull=False)
        assert gap_runs(dated, GAP) == expected


@pytest.fixture
def incident(project, deployment):
    """A deployment whose first six nights are grouped, and a neighbour with its own."""
    regroup_target = add_captures(deployment, nights(0, 6))
    regroup_deployment(deployment)
    neighbour = Deployment.objects.create(project=project, name="Station B")
    add_captures(neighbour, nights(0, 2))
    regroup_deployment(neighbour)
    add_captures(neighbour, nights(3, 1))  # left ungrouped on purpose
    return regroup_target, neighbour


@pytest.mark.django_db
def test_the_incident_regroups_where_the_rules_say_and_keeps_untouched_ids(deployment, incident):
    first_captures, neighbour = incident
    sessions_before = dict(
        Event.objects.filter(deployment=deployment).values_list("group_by", "pk")
    )
    assert len(sessions_before) == 6
    # Orphan nights 4 and 5 (a bad sync), and add three new nights that were never grouped.
    orphaned = [c.pk for c in first_captures if c.timestamp >= START + timedelta(days=4)]
    SourceImage.objects.filter(pk__in=orphaned).update(event=None)
    new_captures = add_captures(deployment, nights(10, 3))
    neighbour_state = list(
        SourceImage.objects.filter(deployment=neighbour).values_list("pk", "event_id")
    )

    summary = regroup_deployment(deployment)

    all_captures = first_captures + new_captures
    timestamps = [c.timestamp for c in all_captures]
    assert sessions_of(all_captures) == reference_sessions(timestamps, GAP)
    sessions_after = dict(Event.objects.filter(deployment=deployment).values_list("group_by", "pk"))
    untouched = [key for key in sessions_before if key < (START + timedelta(days=4)).isoformat()]
    assert len(untouched) == 4
    for group_by in untouched:
        assert sessions_after[group_by] == sessions_before[group_by]
    assert summary.captures_grouped == len(orphaned) + len(new_captures)
    # The orphaned nights' old sessions were empty and had no occurrences: deleted.
    assert summary.sessions_deleted == 2
    assert summary.sessions_created == 5
    assert len(sessions_after) == 9
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 0
    assert deployment.events_count == 9
    # The neighbouring deployment was not touched, not even its ungrouped night.
    assert (
        list(SourceImage.objects.filter(deployment=neighbour).values_list("pk", "event_id"))
        == neighbour_state
    )

    with CaptureQueriesContext(connection) as queries:
        third = regroup_deployment(deployment)
    assert third.wrote_nothing
    assert write_queries(queries) == []


@pytest.mark.django_db
def test_occurrences_follow_their_earliest_detection(project, deployment):
    captures = add_captures(deployment, [*nights(0, 2), None])
    night_two = captures[6]
    taxon = Taxon.objects.create(name="Noctua pronuba")
    spanning = Occurrence.objects.create(
        project=project, deployment=deployment, determination=taxon
    )
    # Saved night two first: the earliest capture wins, not the first saved detection.
    Detection.objects.create(source_image=night_two, occurrence=spanning)
    Detection.objects.create(source_image=captures[1], occurrence=spanning)
    undated = Occurrence.objects.create(project=project, deployment=deployment)
    Detection.objects.create(source_image=captures[-1], occurrence=undated)

    summary = regroup_deployment(deployment)

    captures[1].refresh_from_db()
    spanning.refresh_from_db()
    undated.refresh_from_db()
    assert spanning.event_id == captures[1].event_id is not None
    assert undated.event_id is None
    assert summary.occurrences_relinked == 1
    event = spanning.event
    assert event.occurrences_count == 1
    assert event.detections_count == 1  # the night-two detection counts on night two
    deployment.refresh_from_db()
    assert deployment.occurrences_count == 2
    assert deployment.taxa_count == 1


@pytest.mark.django_db
def test_a_lost_session_with_occurrences_hands_them_over(project, deployment):
    captures = add_captures(deployment, nights(0, 1))
    stale = Event.objects.create(
        deployment=deployment, project=project, group_by="stale", start=START, end=START
    )
    occurrence = Occurrence.objects.create(project=project, deployment=deployment, event=stale)
    Detection.objects.create(source_image=captures[0], occurrence=occurrence)

    summary = regroup_deployment(deployment)

    occurrence.refresh_from_db()
    captures[0].refresh_from_db()
    assert occurrence.event_id == captures[0].event_id
    assert not Event.objects.filter(pk=stale.pk).exists()
    assert summary.sessions_deleted == 1


@pytest.mark.django_db
def test_two_sessions_on_one_calendar_date_stay_two_and_one_capture_is_a_session(deployment):
    just_after_midnight = datetime(2024, 6, 2, 0, 10, tzinfo=UTC)
    captures = add_captures(
        deployment,
        [just_after_midnight, just_after_midnight + timedelta(hours=3), START],
    )
    regroup_deployment(deployment)
    events = {c.pk: c.event_id for c in SourceImage.objects.filter(pk__in=[c.pk for c in captures])}
    assert len(set(events.values())) == 3
    assert None not in events.values()
    group_bys = list(Event.objects.filter(deployment=deployment).values_list("group_by", flat=True))
    assert len(set(group_bys)) == 3


@pytest.mark.django_db
def test_continuous_monitoring_is_cut_every_24_hours(deployment):
    # A capture every hour for three days: never a gap, but a session holds at most 24 h
    # after its first capture (exactly 24 h later still belongs to it).
    hourly = [START + timedelta(hours=hour) for hour in range(72)]
    captures = add_captures(deployment, hourly)

    regroup_deployment(deployment)

    assert sessions_of(captures) == [set(range(0, 25)), set(range(25, 50)), set(range(50, 72))]


@pytest.mark.django_db
def test_a_plan_read_in_windows_between_gaps_is_the_plan_of_everything(deployment):
    add_captures(deployment, nights(0, 3))
    regroup_deployment(deployment)
    add_captures(deployment, [*nights(3, 2), None])
    night_three = nights(3, 1)

    whole = read_plan(deployment, GAP)
    split = read_plan(
        deployment,
        GAP,
        [Window(last=night_three[0] - timedelta(hours=2)), Window(first=night_three[0])],
    )
    alone = read_plan(deployment, GAP, [Window(night_three[0], night_three[-1])])

    assert split == whole
    assert len(whole.pending) == 2
    assert [(session.start, session.end) for session in alone.sessions] == [
        (night_three[0], night_three[-1])
    ]


@pytest.mark.django_db
def test_a_capture_that_lost_its_timestamp_leaves_its_session(deployment):
    captures = add_captures(deployment, nights(0, 1))
    regroup_deployment(deployment)
    SourceImage.objects.filter(pk=captures[0].pk).update(timestamp=None)

    summary = regroup_deployment(deployment)

    captures[0].refresh_from_db()
    assert captures[0].event_id is None
    assert summary.undated_captures_taken_out == 1
    event = Event.objects.get(deployment=deployment)
    assert event.captures_count == 5
    assert event.start == captures[1].timestamp


@pytest.mark.django_db
@pytest.mark.parametrize("setting", [0, -5, None])
def test_an_unusable_gap_setting_falls_back_with_a_warning(project, deployment, setting):
    project.session_time_gap_seconds = setting
    project.save()
    add_captures(deployment, nights(0, 2))
    summary = regroup_deployment(deployment)
    assert summary.gap_seconds == 7200
    assert "default of 7200 seconds" in summary.warnings[0]
    assert Event.objects.filter(deployment=deployment).count() == 2


@pytest.mark.django_db
def test_progress_is_reported_and_a_stop_leaves_consistent_data(settings, deployment):
    settings.REGROUP_CHUNK_CAPTURES = 12
    captures = add_captures(deployment, nights(0, 10))
    reports: list[tuple[int, int]] = []

    summary = regroup_deployment(
        deployment,
        progress=lambda done, total: reports.append((done, total)),
        should_stop=lambda: len(reports) >= 3,
    )

    assert summary.stopped
    assert reports[0] == (0, 60)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    grouped = SourceImage.objects.filter(deployment=deployment, event__isnull=False)
    assert grouped.count() == 24  # two chunks of two nights, then the stop
    for event in Event.objects.filter(deployment=deployment):
        assert event.captures_count == event.captures.count() == 6
    deployment.refresh_from_db()
    assert deployment.source_images_without_event_count == 36

    reports.clear()
    rerun = regroup_deployment(
        deployment, progress=lambda done, total: reports.append((done, total))
    )
    assert not rerun.stopped
    assert reports[-1] == (36, 36)
    assert sessions_of(captures) == reference_sessions([c.timestamp for c in captures], GAP)


@pytest.mark.django_db(transaction=True)
def test_a_second_regroup_of_the_same_deployment_is_refused_while_one_runs(deployment):
    add_captures(deployment, nights(0, 1))
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with deployment_lock(deployment.pk):
                holding.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        with pytest.raises(DeploymentBusy):
            regroup_deployment(deployment)
        assert SourceImage.objects.filter(event__isnull=False).count() == 0
    finally:
        release.set()
        holder.join()
    assert regroup_deployment(deployment).captures_grouped == 6


@pytest.mark.django_db
def test_regroup_command_prints_a_summary(deployment):
    add_captures(deployment, [*nights(0, 2), None])
    out = StringIO()
    call_command("regroup", str(deployment.pk), stdout=out)
    text = out.getvalue()
    assert "12 of 12 captures" in text
    assert "sessions created:           2" in text
    assert "captures without timestamp: 1" in text
    assert "captures still ungrouped:   0" in text


@pytest.mark.django_db
def test_regroup_command_rejects_unknown_and_orphan_deployments(db):
    with pytest.raises(CommandError, match="no deployment with id 999"):
        call_command("regroup", "999")
    orphan = Deployment.objects.create(name="Loose camera")
    with pytest.raises(CommandError, match="belongs to no project"):
        call_command("regroup", str(orphan.pk))
    with pytest.raises(CommandError):
        call_command("regroup", str(orphan.pk), "--gap-seconds", "0")
