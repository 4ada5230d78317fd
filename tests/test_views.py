"""The server-rendered pages: what they show, and to whom."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.models import (
    Deployment,
    Event,
    Project,
    ProjectMembership,
    SourceImage,
    SourceImageCollection,
    Taxon,
)
from tests.factories import (
    PASSWORD,
    START,
    make_job,
    make_occurrences,
    make_session,
    occurrence_list_url,
)


@pytest.fixture
def session(deployment) -> Event:
    return make_session(deployment, START, captures_count=1_234, occurrences_count=56)


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(name="Somebody else's moths", is_private=True)


@pytest.fixture
def other_deployment(other_project) -> Deployment:
    return Deployment.objects.create(project=other_project, name="Station Z")


@pytest.fixture
def other_session(other_deployment) -> Event:
    return make_session(other_deployment, START)


@pytest.fixture
def public_project(db) -> Project:
    project = Project.objects.create(name="Garden moths", is_private=False)
    Deployment.objects.create(project=project, name="Garden trap", captures_count=42)
    return project


def project_urls(project: Project, deployment: Deployment, session: Event) -> list[str]:
    return [
        reverse("project-detail", args=[project.pk]),
        reverse("deployment-detail", args=[project.pk, deployment.pk]),
        reverse("session-list", args=[project.pk]),
        reverse("session-detail", args=[project.pk, session.pk]),
        reverse("occurrence-list", args=[project.pk]),
        reverse("capture-set-list", args=[project.pk]),
    ]


# Who sees what


def test_member_can_open_every_project_page(client, member, project, deployment, session):
    client.force_login(member)
    for url in project_urls(project, deployment, session):
        response = client.get(url)
        assert response.status_code == 200, url
        assert project.name in response.text


def test_non_member_gets_404_on_every_page_of_a_private_project(
    client, outsider, project, deployment, session
):
    client.force_login(outsider)
    for url in project_urls(project, deployment, session):
        assert client.get(url).status_code == 404, url


def test_anonymous_is_sent_to_sign_in_for_private_and_missing_projects_alike(
    client, project, deployment, session
):
    for url in [*project_urls(project, deployment, session), "/projects/999999/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url == f"{reverse('login')}?next={url}"


def test_anonymous_can_read_a_public_project(client, project, deployment, session):
    project.is_private = False
    project.save()
    for url in project_urls(project, deployment, session):
        assert client.get(url).status_code == 200, url


def test_staff_see_private_projects_they_are_not_members_of(client, project, deployment):
    staff = get_user_model().objects.create_user("staff", password=PASSWORD, is_staff=True)
    client.force_login(staff)
    assert client.get(project.get_absolute_url()).status_code == 200
    assert project.name in client.get(reverse("project-list")).text


@pytest.mark.parametrize(
    "url",
    [
        "/projects/abc/",
        "/projects/1/deployments/abc/",
        "/projects/1/sessions/abc/",
        "/projects/1/sessions/-1/",
        "/projects/99999999999999999999999/",
    ],
)
def test_malformed_or_out_of_range_ids_give_404(client, member, url):
    client.force_login(member)
    assert client.get(url).status_code == 404


def test_deployment_and_session_of_another_project_give_404(
    client, member, project, other_deployment, other_session
):
    client.force_login(member)
    assert (
        client.get(reverse("deployment-detail", args=[project.pk, other_deployment.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("session-detail", args=[project.pk, other_session.pk])).status_code
        == 404
    )


# Project list


def test_project_list_shows_only_visible_projects(
    client, outsider, member, project, other_project, public_project
):
    client.force_login(outsider)
    text = client.get(reverse("project-list")).text
    assert public_project.name in text
    assert project.name not in text

    client.force_login(member)
    text = client.get(reverse("project-list")).text
    assert project.name in text
    assert public_project.name in text
    assert other_project.name not in text

    client.logout()
    text = client.get(reverse("project-list")).text
    assert public_project.name in text
    assert project.name not in text


def test_project_list_sums_stored_counts_once_per_deployment(client, public_project):
    # Several members of a public project must not multiply its totals.
    for name in ("a", "b", "c"):
        user = get_user_model().objects.create_user(name, password=PASSWORD)
        ProjectMembership.objects.create(project=public_project, user=user)
    Deployment.objects.create(project=public_project, name="Shed trap", captures_count=165_390)
    client.force_login(user)
    response = client.get(reverse("project-list"))
    row = response.text.split(public_project.name, 1)[1].split("</tr>", 1)[0]
    assert "Public" in row
    assert ">2</td>" in row
    assert "165,432" in row


# Project, deployment and session pages


def test_project_page_reads_stored_deployment_counts(client, member, project, deployment):
    project.description = "Light traps across the Fens."
    project.session_time_gap_seconds = 5400
    project.save()
    deployment.captures_count = 660_123
    deployment.source_images_without_event_count = 165_432
    deployment.source_images_without_timestamp_count = 12
    deployment.save()
    client.force_login(member)
    response = client.get(project.get_absolute_url())
    assert "Light traps across the Fens." in response.text
    assert "660,123" in response.text
    assert "165,432" in response.text
    assert "1 hour 30 minutes" in response.text
    assert reverse("session-list", args=[project.pk]) in response.text
    assert reverse("capture-set-list", args=[project.pk]) in response.text
    assert "Private" in response.text


def test_project_page_explains_an_unusable_session_gap(client, member, project):
    project.session_time_gap_seconds = None
    project.save()
    client.force_login(member)
    response = client.get(project.get_absolute_url())
    assert "2 hours" in response.text
    assert "the default is used" in response.text


def test_deployment_page_shows_counts_and_latest_sessions_first(
    client, member, project, deployment
):
    deployment.captures_count = 660_123
    deployment.source_images_without_event_count = 165_432
    deployment.first_capture_timestamp = START
    deployment.save()
    make_session(deployment, START)
    make_session(deployment, START + timedelta(days=1))
    client.force_login(member)
    response = client.get(deployment.get_absolute_url())
    assert "660,123" in response.text
    assert "165,432" in response.text
    assert "1 Jun 2024, 21:00" in response.text
    assert response.text.index("Sun 2 Jun 2024") < response.text.index("Sat 1 Jun 2024")
    assert "7\xa0hours, 30\xa0minutes" in response.text


def test_deployment_page_has_the_project_tabs_with_deployments_current(
    client, member, project, deployment
):
    client.force_login(member)
    text = client.get(deployment.get_absolute_url()).text

    tabs = text.split('<nav class="tabs" aria-label="Project">', 1)[1].split("</nav>", 1)[0]
    for name in ("Sessions", "Occurrences", "Capture sets", "Jobs"):
        assert f">{name}</a>" in tabs
    # The page is inside the Deployments tab, not that tab's own page.
    assert f'<a href="{project.get_absolute_url()}" aria-current="true">Deployments</a>' in tabs
    assert 'aria-current="page"' not in tabs


@pytest.mark.parametrize("who", ["manager", "member"])
def test_project_pages_read_the_users_role_with_the_project(
    client, request, who, project, deployment
):
    client.force_login(request.getfixturevalue(who))
    pages = [deployment.get_absolute_url(), occurrence_list_url(project)]
    for url in pages:
        client.get(url)  # the session and user lookups warmed alike
        with CaptureQueriesContext(connection) as queries:
            text = client.get(url).text

        # No query of its own: the role came with the project, yet the tabs know it.
        own = 'SELECT "monitoring_projectmembership".'
        assert not [q for q in queries if q["sql"].startswith(own)]
        assert (">Settings</a>" in text) == (who == "manager")


def test_job_list_names_type_and_target_once_each(client, member, project, deployment):
    job = make_job(deployment)
    client.force_login(member)
    text = client.get(reverse("job-list", args=[project.pk])).text

    header = text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert ">Type</th>" not in header and ">Target</th>" in header
    row = text.split(f'id="job-{job.pk}-row"', 1)[1].split("</tr>", 1)[0]
    visible = re.sub(r"<[^>]+>", " ", row)  # the text, without attributes
    assert visible.count("Regroup sessions") == 1
    assert visible.count("Station A") == 1
    assert f'<a href="{job.get_absolute_url()}" aria-label="Regroup sessions of Station A">' in row
    assert f'<a href="{deployment.get_absolute_url()}">Station A</a>' in row


def test_deployment_page_paginates_sessions_by_25(client, member, deployment):
    for day in range(26):
        make_session(deployment, START + timedelta(days=day))
    client.force_login(member)
    first = client.get(deployment.get_absolute_url())
    assert len(first.context["sessions"].object_list) == 25
    assert "Page 1 of 2" in first.text
    second = client.get(deployment.get_absolute_url() + "?page=2")
    assert "Sat 1 Jun 2024" in second.text  # the oldest session comes last


def test_session_list_filters_by_deployment(client, member, project, deployment, session):
    elsewhere = Deployment.objects.create(project=project, name="Station B")
    make_session(elsewhere, START + timedelta(days=3))
    client.force_login(member)
    url = reverse("session-list", args=[project.pk])
    assert "2 sessions" in client.get(url).text
    response = client.get(f"{url}?deployment={elsewhere.pk}")
    assert "1 session of" in response.text
    assert "Tue 4 Jun 2024" in response.text
    assert "Sat 1 Jun 2024" not in response.text


def test_session_list_ignores_a_deployment_of_another_project(
    client, member, project, session, other_deployment
):
    client.force_login(member)
    url = reverse("session-list", args=[project.pk])
    for value in (other_deployment.pk, "abc"):
        response = client.get(f"{url}?deployment={value}")
        assert response.status_code == 200
        assert "isn't one of this project's" in response.text
        assert "1 session," in response.text


def test_session_page_shows_captures_and_links_to_its_occurrences(
    client, member, project, deployment, session
):
    SourceImage.objects.create(
        deployment=deployment,
        project=project,
        event=session,
        timestamp=START + timedelta(minutes=5),
        path="station-a/2024-06-01/210500.jpg",
    )
    client.force_login(member)
    response = client.get(session.get_absolute_url())
    assert "station-a/2024-06-01/210500.jpg" in response.text
    assert "1 Jun 2024, 21:05:00" in response.text
    assert "1,234" in response.text  # stored captures count
    assert "The first 1 of 1,234 captures" in response.text
    assert occurrence_list_url(project, session=session.pk) in response.text
    assert deployment.get_absolute_url() in response.text


# Occurrence list


@pytest.fixture
def occurrence_data(project, deployment, session):
    moth = Taxon.objects.create(name="Noctua pronuba")
    other_moth = Taxon.objects.create(name="Biston betularia")
    elsewhere = Deployment.objects.create(project=project, name="Station B")
    make_occurrences(deployment, 2, event=session, determination=moth)
    make_occurrences(deployment, 3, determination=other_moth)
    make_occurrences(elsewhere, 4, determination=moth)
    return {"moth": moth, "other_moth": other_moth, "elsewhere": elsewhere}


def test_occurrence_filters_narrow_the_list(client, member, project, session, occurrence_data):
    client.force_login(member)

    def count(**params) -> int:
        return (
            client.get(occurrence_list_url(project, **params))
            .context["occurrences"]
            .paginator.count
        )

    assert count() == 9
    assert count(deployment=occurrence_data["elsewhere"].pk) == 4
    assert count(session="none") == 7
    assert count(session=session.pk) == 2
    assert count(taxon=occurrence_data["moth"].pk) == 6
    assert count(session="none", taxon=occurrence_data["moth"].pk) == 4


def test_occurrence_rows_link_deployment_and_session_or_say_no_session(
    client, member, project, deployment, session, occurrence_data
):
    client.force_login(member)
    response = client.get(occurrence_list_url(project, deployment=deployment.pk))
    assert "5 occurrences match the filters." in response.text
    assert session.get_absolute_url() in response.text
    assert "No session" in response.text
    assert "Noctua pronuba" in response.text
    assert deployment.get_absolute_url() in response.text


def test_occurrence_filter_form_keeps_the_chosen_values(
    client, member, project, deployment, session, occurrence_data
):
    client.force_login(member)
    moth = occurrence_data["moth"]
    response = client.get(
        occurrence_list_url(project, deployment=deployment.pk, session=session.pk, taxon=moth.pk)
    )
    assert f'<option value="{deployment.pk}" selected>' in response.text
    assert f'<option value="{session.pk}" selected>' in response.text
    assert f'<option value="{moth.pk}" selected>' in response.text
    response = client.get(occurrence_list_url(project, session="none"))
    assert '<option value="none" selected>No session</option>' in response.text


def test_filter_values_are_plain_ids_even_above_a_thousand(client, member, project):
    # Thousand separators in option values would break the filter once ids pass 999.
    Deployment.objects.create(pk=12_345, project=project, name="Station L")
    client.force_login(member)
    response = client.get(occurrence_list_url(project))
    assert '<option value="12345">Station L</option>' in response.text


def test_occurrence_pagination_keeps_the_filters(client, member, project, deployment, session):
    make_occurrences(deployment, 51)
    make_occurrences(deployment, 5, event=session)
    client.force_login(member)
    response = client.get(occurrence_list_url(project, deployment=deployment.pk, session="none"))
    assert "51 occurrences" in response.text
    next_link = f'?deployment={deployment.pk}&amp;session=none&amp;page=2"'
    assert next_link in response.text
    second = client.get(
        occurrence_list_url(project, deployment=deployment.pk, session="none", page=2)
    )
    assert len(second.context["occurrences"].object_list) == 1


@pytest.mark.parametrize(
    "param,value",
    [
        ("deployment", "abc"),
        ("deployment", "other"),
        ("session", "abc"),
        ("session", "other"),
        ("taxon", "abc"),
        ("taxon", "unused"),
        ("deployment", "99999999999999999999999"),
    ],
)
def test_invalid_occurrence_filters_are_ignored_and_reported(
    client, member, project, other_deployment, other_session, occurrence_data, param, value
):
    unused_taxon = Taxon.objects.create(name="Not in this project")
    value = {
        "other": other_deployment.pk if param == "deployment" else other_session.pk,
        "unused": unused_taxon.pk,
    }.get(value, value)
    client.force_login(member)
    response = client.get(occurrence_list_url(project, **{param: value}))
    assert response.status_code == 200
    assert "so that filter is ignored" in response.text
    assert response.context["occurrences"].paginator.count == 9


def test_an_invalid_filter_leaves_the_valid_ones_applied(client, member, project, occurrence_data):
    client.force_login(member)
    response = client.get(occurrence_list_url(project, deployment="abc", session="none"))
    assert "so that filter is ignored" in response.text
    assert response.context["occurrences"].paginator.count == 7


@pytest.mark.parametrize("count", [3, 30])
def test_occurrence_list_query_count_does_not_grow_with_rows(
    client, member, project, deployment, django_assert_max_num_queries, count
):
    taxon = Taxon.objects.create(name="Noctua pronuba")
    sessions = [make_session(deployment, START + timedelta(days=day)) for day in range(count)]
    for index, session in enumerate(sessions):
        make_occurrences(deployment, 1, event=session if index % 2 else None, determination=taxon)
    client.force_login(member)
    client.get(occurrence_list_url(project))  # warm the session and user lookups alike
    # The user's role, read once, says both what the banner offers and whether the tabs
    # show Settings.
    with django_assert_max_num_queries(12):
        response = client.get(
            occurrence_list_url(project, deployment=deployment.pk, taxon=taxon.pk)
        )
    assert response.context["occurrences"].paginator.count == count


# Capture sets


def test_capture_set_list_shows_sets_and_says_when_one_is_empty(client, member, project):
    SourceImageCollection.objects.create(
        project=project,
        name="Random 100",
        method=SourceImageCollection.Method.RANDOM,
        kwargs={"size": 100},
    )
    SourceImageCollection.objects.create(
        project=project,
        name="Every 10th",
        method=SourceImageCollection.Method.INTERVAL,
        kwargs={"interval": 10},
        source_images_count=12_500,
    )
    client.force_login(member)
    response = client.get(reverse("capture-set-list", args=[project.pk]))
    assert "Random sample" in response.text
    assert "size: 100" in response.text
    assert "12,500" in response.text
    assert response.text.count("This capture set is empty.") == 1
    empty_card = response.text.split("Random 100", 1)[1]
    assert "This capture set is empty." in empty_card


@pytest.mark.parametrize("viewer", ["member", "manager"])
def test_the_capture_set_list_runs_as_many_queries_for_20_sets_as_for_2(
    client, project, member, manager, viewer
):
    """Who may act and whom to ask are worked out once per page, not once per set."""
    client.force_login({"member": member, "manager": manager}[viewer])
    url = reverse("capture-set-list", args=[project.pk])

    def queries_for(sets: int) -> int:
        project.capture_sets.all().delete()
        SourceImageCollection.objects.bulk_create(
            SourceImageCollection(project=project, name=f"Set {n:02d}") for n in range(sets)
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.text.count("This capture set is empty.") == sets
        return len(queries)

    assert queries_for(20) == queries_for(2)


# Sign in, sign out and the page frame


def test_sign_in_returns_to_the_page_asked_for(client, member, project):
    url = project.get_absolute_url()
    login_page = client.get(client.get(url).url)
    assert login_page.status_code == 200
    assert 'name="password"' in login_page.text
    response = client.post(
        reverse("login"), {"username": "member", "password": PASSWORD, "next": url}
    )
    assert response.status_code == 302
    assert response.url == url


def test_sign_in_with_a_wrong_password_says_so(client, member):
    response = client.post(reverse("login"), {"username": "member", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.text


def test_header_shows_the_user_and_signs_out_by_post(client, member):
    client.force_login(member)
    response = client.get(reverse("project-list"))
    assert "Signed in as" in response.text
    assert f'<form method="post" action="{reverse("logout")}"' in response.text
    assert client.post(reverse("logout")).status_code == 302
    assert "Sign in" in client.get(reverse("project-list")).text


def test_pages_load_htmx_locally_and_send_the_csrf_token(client, member):
    client.force_login(member)
    response = client.get(reverse("project-list"))
    assert "/static/django_htmx/htmx-2.min.js" in response.text
    assert '"historyRestoreAsHxRequest": false' in response.text
    assert 'hx-headers=\'{"x-csrftoken": "' in response.text
    assert 'name="viewport"' in response.text


@pytest.mark.django_db
def test_a_big_occurrence_list_takes_its_size_from_stored_counts(
    client, member, project, deployment
):
    make_occurrences(deployment, 3)
    Deployment.objects.filter(pk=deployment.pk).update(occurrences_count=20_000)
    client.force_login(member)

    with CaptureQueriesContext(connection) as queries:
        big = client.get(occurrence_list_url(project)).text
    Deployment.objects.filter(pk=deployment.pk).update(occurrences_count=0)
    small = client.get(occurrence_list_url(project)).text

    assert "20,000 occurrences" in big
    assert not any("COUNT(*)" in query["sql"] for query in queries.captured_queries)
    # A small list is counted, so a stale stored number can't hide its rows.
    assert "3 occurrences" in small


@pytest.mark.parametrize("filtered_by", ["nothing", "deployment", "no session"])
def test_a_small_and_a_big_occurrence_list_run_the_same_queries(
    client, member, project, deployment, filtered_by
):
    """The list is sized from stored counts when big and counted when small: in one query
    either way, so its queries don't depend on the size of the data."""
    make_occurrences(deployment, 3)
    filters = {"nothing": {}, "deployment": {"deployment": deployment.pk}}.get(
        filtered_by, {"session": "none"}
    )
    url = occurrence_list_url(project, **filters)
    client.force_login(member)
    client.get(url)  # warm the session and user lookups alike

    def size_and_queries(stored: int) -> tuple[int, int]:
        Deployment.objects.filter(pk=deployment.pk).update(
            occurrences_count=stored, occurrences_without_event_count=stored
        )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        return response.context["occurrences"].paginator.count, len(queries)

    (big, big_queries), (small, small_queries) = size_and_queries(20_000), size_and_queries(3)
    assert (big, small) == (20_000, 3)
    assert big_queries == small_queries


def test_the_occurrence_list_of_a_project_without_deployments_is_empty(client, member, project):
    client.force_login(member)
    response = client.get(occurrence_list_url(project))
    assert "0 occurrences." in response.text
    assert "No occurrences." in response.text
