"""Add captures from the deployment page: the form and its limits, who may use it, the card
that follows the job in every state, with and without htmx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jobs import actions
from jobs.add_captures import ADD_CAPTURES_JOB
from jobs.models import Job, JobStatus
from jobs.runner import run_job
from monitoring.capture_uploads import upload_exists
from monitoring.models import Deployment, SourceImage
from tests.factories import HTMX, deployment_url

pytestmark = pytest.mark.django_db

GOOD = (
    b"path,timestamp\n"
    b"n1/1.jpg,2024-06-01T21:00:00Z\nn1/2.jpg,2024-06-01T21:10:00Z\n"
    b"n2/1.jpg,2024-06-02T21:00:00Z\n"
)


def csv(content: bytes = GOOD, name: str = "night.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def post(client: Client, deployment: Deployment, htmx: bool = False, **data):
    extra = HTMX if htmx else {}
    return client.post(deployment_url("deployment-add-captures", deployment), data, **extra)


def card_of(text: str, deployment: Deployment) -> str:
    marker = f'id="deployment-{deployment.pk}-add-captures"'
    return text.split(marker, 1)[1].split("</article>", 1)[0] if marker in text else ""


def only_job() -> Job:
    return Job.objects.of_type(ADD_CAPTURES_JOB).get()


# --- Who may add captures ---------------------------------------------------------------


def test_managers_see_the_form_with_its_limits_and_members_do_not(
    client, deployment, manager, member, settings
):
    settings.CAPTURE_IMPORT_MAX_BYTES = 50 * 1024 * 1024
    settings.CAPTURE_IMPORT_MAX_ROWS = 200_000
    client.force_login(manager)
    page = client.get(deployment.get_absolute_url()).text

    assert 'enctype="multipart/form-data"' in page
    assert f'action="{deployment_url("deployment-add-captures", deployment)}"' in page
    assert "Up to 50 MB and 200,000 rows at a time." in page
    assert "path,timestamp\n</textarea>" in page
    # The browser's own limit on pasted rows is the number itself, not "100,000" (read as 100).
    assert 'maxlength="100000"' in page
    assert "Up to 100,000 characters; for more, add a file." in page

    client.force_login(member)
    assert "Add captures</h2>" not in client.get(deployment.get_absolute_url()).text


def test_members_get_403_outsiders_404_and_nothing_is_kept(client, deployment, member, outsider):
    client.force_login(member)
    assert post(client, deployment, file=csv()).status_code == 403
    client.force_login(outsider)
    assert post(client, deployment, file=csv()).status_code == 404
    client.logout()
    assert post(client, deployment, file=csv()).status_code == 302
    assert not Job.objects.exists()


def test_the_form_needs_its_csrf_token(deployment, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    assert post(client, deployment, file=csv()).status_code == 403
    assert not Job.objects.exists()


# --- Starting the job -------------------------------------------------------------------


def test_a_file_starts_the_job_and_a_form_post_lands_on_its_page(client, deployment, manager):
    client.force_login(manager)
    response = post(client, deployment, file=csv())

    job = only_job()
    assert response.status_code == 302
    assert response.url == job.get_absolute_url()
    assert job.name == "Add captures to Station A"
    assert (job.params["file_name"], job.params["lines"]) == ("night.csv", 4)
    assert upload_exists(job.params["file"])
    assert not SourceImage.objects.exists()  # the worker adds them


def test_with_htmx_the_running_card_comes_back_with_an_empty_form(client, deployment, manager):
    client.force_login(manager)
    response = post(client, deployment, htmx=True, file=csv())

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert "<html" not in response.text
    card = card_of(response.text, deployment)
    assert "Adding captures…" in card
    assert deployment_url("deployment-add-captures-progress", deployment) in card
    assert ">Cancel</button>" in card
    assert 'hx-swap-oob="true"' in response.text and "Add captures</h2>" in response.text


def test_pasted_rows_start_the_job_like_a_file(client, deployment, manager):
    client.force_login(manager)
    post(client, deployment, rows=GOOD.decode())

    job = only_job()
    assert (job.params["file_name"], job.params["lines"]) == ("pasted rows", 4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a CSV file, or paste rows under the header path,timestamp."),
        ({"rows": "path,timestamp\n"}, "Choose a CSV file, or paste rows"),
        ({"rows": "path,timestamp\na.jpg,\n", "file": "x"}, "Add a file or paste rows, not both."),
    ],
    ids=["nothing", "only-the-header", "both"],
)
def test_a_form_without_one_file_or_rows_is_refused(client, deployment, manager, data, message):
    client.force_login(manager)

    def form_data() -> dict:
        return {**data, "file": csv()} if "file" in data else data

    plain = post(client, deployment, **form_data())
    htmx = post(client, deployment, htmx=True, **form_data())

    assert plain.status_code == 400 and message in plain.text and "<html" in plain.text
    assert htmx.status_code == 200 and message in htmx.text and "<html" not in htmx.text
    assert htmx["HX-Retarget"] == f"#deployment-{deployment.pk}-add-captures-form"
    assert not Job.objects.exists()


def test_a_file_over_the_size_or_row_limit_is_refused_and_not_kept(
    client, deployment, manager, settings
):
    client.force_login(manager)
    settings.CAPTURE_IMPORT_MAX_BYTES = 40
    too_big = post(client, deployment, file=csv())
    settings.CAPTURE_IMPORT_MAX_BYTES = 10_000
    settings.CAPTURE_IMPORT_MAX_ROWS = 2
    too_long = post(client, deployment, file=csv())

    assert too_big.status_code == 400
    assert (
        f"The file is {len(GOOD)} bytes; at most 40 bytes can be added at once. Split it into "
        "smaller files." in too_big.text
    )
    assert "The file has 3 rows; at most 2 can be added at once." in too_long.text
    assert not Job.objects.exists()


def test_a_second_upload_while_one_runs_is_refused_and_shown_the_running_job(
    client, deployment, manager
):
    client.force_login(manager)
    post(client, deployment, file=csv())
    first = only_job()

    second = post(client, deployment, file=csv(GOOD + b"n3/1.jpg,\n", "other.csv"))

    assert second.status_code == 400
    assert (
        f"Captures are already being added to Station A (job #{first.pk}); this file was not "
        "added." in second.text
    )
    assert Job.objects.count() == 1
    # The running job's card is on the page, with its progress.
    assert "Adding captures…" in card_of(second.text, deployment)


# --- The card, state by state -----------------------------------------------------------


def progress(client: Client, deployment: Deployment):
    return client.get(deployment_url("deployment-add-captures-progress", deployment), **HTMX)


def test_the_card_follows_the_job_to_done_with_the_new_sessions(client, deployment, manager):
    client.force_login(manager)
    post(client, deployment, file=csv())
    job = only_job()
    pending = progress(client, deployment)
    assert "Waiting for a worker" in pending.text

    run_job(job.pk)
    done = progress(client, deployment)

    assert done["HX-Retarget"] == f"#deployment-{deployment.pk}-add-captures"
    card = card_of(done.text, deployment)
    assert "Captures added." in card
    assert "Added 3 captures and grouped them into 2 sessions." in card
    assert card.count('<li><a href="/projects/') == 2
    assert "hx-trigger" not in card  # polling ends
    assert f'id="deployment-{deployment.pk}-stats" aria-labelledby' in done.text
    # A fresh page: no import card, and no ungrouped-captures card either.
    page = client.get(deployment.get_absolute_url()).text
    assert not card_of(page, deployment)
    assert "aren't grouped into a session" not in page


def test_the_running_card_shows_the_stage_under_way(client, deployment, manager):
    client.force_login(manager)
    post(client, deployment, file=csv())
    job = only_job()
    job.status = JobStatus.STARTED
    job.progress = {
        "stages": [
            {
                "key": "check",
                "name": "Check",
                "unit": "rows",
                "status": "SUCCESS",
                "done": 4,
                "total": 4,
            },
            {
                "key": "import",
                "name": "Import",
                "unit": "rows",
                "status": "STARTED",
                "done": 1,
                "total": 3,
            },
            {"key": "group", "name": "Group sessions", "unit": "captures", "status": "CREATED"},
            {
                "key": "refresh",
                "name": "Refresh counts",
                "unit": "deployments",
                "status": "CREATED",
            },
        ]
    }
    job.save()

    card = card_of(client.get(deployment.get_absolute_url()).text, deployment)
    poll = progress(client, deployment).text

    assert 'aria-current="step">Import</li>' in card
    assert 'aria-current="step">Import</li>' in poll
    assert 'Check<span class="visually-hidden"> (done)</span>' in card
    assert "1 of 3 rows" in card


def test_a_failed_check_lists_the_first_bad_rows_and_turns_retry_off(client, deployment, manager):
    client.force_login(manager)
    bad = GOOD + b"".join(b",2024-06-03T21:00:00Z\n" for _ in range(23))
    post(client, deployment, file=csv(bad))
    job = only_job()
    run_job(job.pk)

    card = card_of(client.get(deployment.get_absolute_url()).text, deployment)

    assert "The captures from night.csv weren't all added." in card
    assert "Nothing was imported: 23 bad rows in the file." in card
    assert card.count("the path is empty</li>") == 20
    assert "and 3 more" in card
    assert "disabled" in card and "Retry would check the same file" in card
    retry = client.post(deployment_url("deployment-add-captures-retry", deployment))
    assert retry.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE

    # A corrected file is a new job.
    post(client, deployment, file=csv())
    assert Job.objects.of_type(ADD_CAPTURES_JOB).active().count() == 1


def test_the_card_says_why_in_prose_with_one_bad_row_or_pasted_ones(client, deployment, manager):
    client.force_login(manager)
    post(client, deployment, file=csv(GOOD + b",2024-06-03T21:00:00Z\n"))
    run_job(only_job().pk)

    card = card_of(client.get(deployment.get_absolute_url()).text, deployment)

    assert (
        "Adding them failed. Nothing was imported: 1 bad row in the file. Fix it and add the "
        "file again.</p>"
    ) in card
    assert "banner-detail" not in card

    pasted = GOOD.decode() + "".join(f",2024-06-03T21:{n:02d}:00Z\n" for n in range(1_200))
    post(client, deployment, rows=pasted)
    job = Job.objects.of_type(ADD_CAPTURES_JOB).active().get()
    run_job(job.pk)

    card = card_of(client.get(deployment.get_absolute_url()).text, deployment)

    assert (
        "Nothing was imported: 1,200 bad rows among the pasted rows. Fix them and paste the "
        "rows again."
    ) in card
    assert "and 1,180 more" in card
    assert "Retry would check the same rows. Fix the rows listed and paste them again." in card


def test_after_the_job_the_page_and_stored_counts_show_the_new_captures(
    client, deployment, manager
):
    SourceImage.objects.create(
        deployment=deployment,
        project=deployment.project,
        path="old.jpg",
        timestamp=datetime(2024, 5, 1, 21, 0, tzinfo=UTC),
    )
    deployment.update_calculated_fields()
    client.force_login(manager)
    post(client, deployment, file=csv(GOOD + b"n0/1.jpg,2024-04-30T21:00:00Z\n"))
    run_job(only_job().pk)

    page = client.get(deployment.get_absolute_url()).text
    header = page.split('<header class="page-header">', 1)[1].split("</header>", 1)[0]

    assert "30 Apr 2024, 21:00</time>" in header.split(" to ", 1)[0]
    assert "2 Jun 2024, 21:00</time>" in header.split(" to ", 1)[1]
    deployment.refresh_from_db()
    assert (deployment.captures_count, deployment.events_count) == (5, 4)
    assert deployment.first_capture_timestamp == datetime(2024, 4, 30, 21, 0, tzinfo=UTC)
    assert deployment.last_capture_timestamp == datetime(2024, 6, 2, 21, 0, tzinfo=UTC)
    assert deployment.source_images_without_event_count == 0


def test_cancel_stops_the_job_and_retry_goes_on(client, deployment, manager):
    client.force_login(manager)
    post(client, deployment, file=csv())
    job = only_job()

    cancelled = client.post(deployment_url("deployment-add-captures-cancel", deployment), **HTMX)

    assert "before anything was added. Retry starts it again." in card_of(
        cancelled.text, deployment
    )
    job.refresh_from_db()
    assert job.status == JobStatus.REVOKED
    retried = client.post(deployment_url("deployment-add-captures-retry", deployment))
    job.refresh_from_db()
    assert retried.url == job.get_absolute_url()
    assert job.status == JobStatus.PENDING
    run_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS


def test_members_see_a_running_card_without_its_buttons(client, deployment, manager, member):
    actions.start(
        ADD_CAPTURES_JOB, deployment, manager, params={"file": "x.csv", "file_name": "x.csv"}
    )
    client.force_login(member)

    card = card_of(client.get(deployment.get_absolute_url()).text, deployment)

    assert "Adding captures…" in card
    assert ">Cancel</button>" not in card
    cancel = client.post(deployment_url("deployment-add-captures-cancel", deployment))
    assert cancel.status_code == 403
