"""Sessions out of date, from stored fields: the recorded settings against the project's,
and the stored sessions' start and end against the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.grouping import RULES_VERSION
from monitoring.models import Deployment
from monitoring.staleness import deployment_staleness, project_staleness
from suggestions.sessions_out_of_date import deployments_needing_regroup
from tests.factories import START, add_nights, make_session

pytestmark = pytest.mark.django_db


def recorded(deployment: Deployment, gap: int | None, rules: int | None = RULES_VERSION) -> None:
    Deployment.objects.filter(pk=deployment.pk).update(
        sessions_gap_seconds=gap, sessions_rules_version=rules
    )
    deployment.refresh_from_db()


def sessions(deployment: Deployment, *spans: tuple[int, float]) -> None:
    """Sessions starting `day` days after START, `hours` long."""
    for day, hours in spans:
        make_session(deployment, START + timedelta(days=day), timedelta(hours=hours))
    Deployment.objects.filter(pk=deployment.pk).update(events_count=deployment.events.count())
    deployment.refresh_from_db()


def test_a_regrouped_deployment_is_up_to_date(deployment):
    add_nights(deployment, grouped=3)
    deployment.refresh_from_db()
    assert deployment.sessions_gap_seconds == 7200
    assert not deployment_staleness(deployment)
    assert project_staleness(deployment.project) == {}


def test_a_changed_gap_makes_sessions_out_of_date(project, deployment):
    add_nights(deployment, grouped=2)
    project.session_time_gap_seconds = 3600
    project.save()
    deployment.refresh_from_db()

    staleness = deployment_staleness(deployment)

    assert staleness.drawn_gap_seconds == 7200
    assert staleness.project_gap_seconds == 3600
    assert staleness.settings_differ and not staleness.old_rules
    assert staleness.sessions_breaking_rules == 0
    assert staleness.count == 1
    assert project_staleness(project) == {deployment.pk: staleness}


def test_older_rules_make_sessions_out_of_date(deployment):
    sessions(deployment, (0, 8))
    recorded(deployment, 7200, rules=RULES_VERSION - 1)
    staleness = deployment_staleness(deployment)
    assert staleness.old_rules and staleness.drawn_gap_seconds is None
    assert staleness.count == 1


def test_sessions_longer_than_24_hours(deployment):
    sessions(deployment, (0, 8), (2, 24), (4, 30), (7, 72))
    recorded(deployment, 7200)
    staleness = deployment_staleness(deployment)
    # Exactly 24 hours is what the rules allow.
    assert staleness.sessions_too_long == 2
    assert staleness.sessions_overlapping == 0
    assert not staleness.settings_differ


def test_overlapping_sessions(deployment):
    # Day 0 for 30 h overlaps day 1; day 3's session lies inside day 2's 60 hours.
    sessions(deployment, (0, 30), (1, 2), (2, 60), (3, 1), (6, 1))
    staleness = deployment_staleness(deployment)
    assert staleness.sessions_overlapping == 2
    assert staleness.sessions_too_long == 2


def test_both_problems_at_once(project, deployment):
    sessions(deployment, (0, 8), (0.2, 2), (3, 25))
    recorded(deployment, 3600)
    staleness = deployment_staleness(deployment)
    assert (staleness.drawn_gap_seconds, staleness.project_gap_seconds) == (3600, 7200)
    assert staleness.sessions_overlapping == 1
    assert staleness.sessions_too_long == 1
    assert staleness.count == 3


def test_no_record_counts_only_sessions_that_break_the_rules(project, deployment):
    """A deployment never regrouped since the record existed: its gap is unknown, so it is
    out of date only if its stored sessions break the rules."""
    sessions(deployment, (0, 8), (1, 8))
    recorded(deployment, None, None)
    assert not deployment_staleness(deployment)
    sessions(deployment, (3, 30))
    assert deployment_staleness(deployment).sessions_too_long == 1
    assert not deployment_staleness(deployment).settings_differ


def test_no_sessions_is_never_out_of_date(project, deployment):
    recorded(deployment, 3600)
    assert not deployment_staleness(deployment)


def test_a_project_answers_for_every_deployment_in_the_same_queries(project):
    def queries_for(count: int) -> int:
        project.deployments.all().delete()
        for n in range(count):
            deployment = Deployment.objects.create(project=project, name=f"Station {n}")
            sessions(deployment, (0, 30), (1, 1))
            recorded(deployment, 3600)
        with CaptureQueriesContext(connection) as queries:
            found = project_staleness(project)
        assert len(found) == count
        assert all(s.count == 3 for s in found.values())
        return len(queries)

    assert queries_for(5) == queries_for(1) == 3


def test_deployments_needing_regroup_say_which_need_a_full_one(project):
    fine = Deployment.objects.create(project=project, name="Fine")
    add_nights(fine, grouped=2)
    ungrouped = Deployment.objects.create(project=project, name="Ungrouped")
    add_nights(ungrouped, grouped=1, ungrouped=2)
    stale = Deployment.objects.create(project=project, name="Stale")
    add_nights(stale, grouped=1)
    both = Deployment.objects.create(project=project, name="Both")
    add_nights(both, grouped=1, ungrouped=1)
    recorded(stale, 3600)
    recorded(both, 3600)

    with CaptureQueriesContext(connection) as queries:
        needs = deployments_needing_regroup(project)

    assert [(need.deployment.name, need.full) for need in needs] == [
        ("Ungrouped", False),
        ("Both", True),
        ("Stale", True),
    ]
    assert needs[1].staleness.drawn_gap_seconds == 3600
    assert len(queries) == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_long_sessions_are_found_through_the_length_index(project, deployment):
    sessions(deployment, (0, 8), (1, 30))
    with CaptureQueriesContext(connection) as queries:
        project_staleness(project)
    too_long = next(q["sql"] for q in queries.captured_queries if '"end" -' in q["sql"])
    with connection.cursor() as cursor:
        # The table is tiny: ask whether the index can serve, not whether it is cheapest.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {too_long}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "event_project_length_idx" in plan
