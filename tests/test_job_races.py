"""Regroup, Retry and Cancel of one deployment posted at the same moment, over and over,
by several users through real HTTP against a live server, with a real worker running the
jobs: every request gets a sensible answer (never a 5xx), and there is never more than one
active regroup of the deployment."""

from __future__ import annotations

import http.client
import random
import secrets
import string
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from jobs.models import ACTIVE_STATUSES, REGROUP_JOB, Job, JobStatus
from monitoring.models import Deployment, Event, ProjectMembership, SourceImage
from tests.factories import add_nights

ROUNDS = 120
CLIENTS = 4
# What a round's clients click: the card's buttons and the job page's.
ACTIONS = ["regroup", "regroup", "cancel", "retry", "job-cancel", "job-retry"]


@dataclass
class Browser:
    """One signed-in user's cookies and CSRF token, posting over plain HTTP."""

    host: str
    port: int
    cookie: str
    token: str

    @classmethod
    def signed_in(cls, live_server_url: str, user) -> Browser:
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        # Django accepts its CSRF secret itself as the token, cookie and header alike.
        token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        url = urlsplit(live_server_url)
        cookie = f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={token}"
        return cls(url.hostname, url.port, cookie, token)

    def post(self, path: str, htmx: bool) -> tuple[int, str]:
        headers = {
            "Cookie": self.cookie,
            "X-CSRFToken": self.token,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if htmx:
            headers["HX-Request"] = "true"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("POST", path, body=urlencode({"region": "card"}), headers=headers)
            response = conn.getresponse()
            return response.status, response.read(2000).decode(errors="replace")
        finally:
            conn.close()


@dataclass
class Sampler:
    """Counts the deployment's active regroups as often as it can, in its own thread."""

    deployment: Deployment
    most: int = 0
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        active = Job.objects.filter(
            job_type_key=REGROUP_JOB, deployment=self.deployment, status__in=ACTIVE_STATUSES
        )
        try:
            while not self.stop.wait(0.002):
                self.most = max(self.most, active.count())
                self.samples += 1
        finally:
            connection.close()


def ungroup_if_all_grouped(deployment: Deployment) -> None:
    """Between rounds, with no request in flight: give Regroup work again once a run has
    grouped everything, unless a job is still active (its worker may be writing)."""
    if Job.objects.filter(deployment=deployment, status__in=ACTIVE_STATUSES).exists():
        return
    if SourceImage.objects.filter(deployment=deployment, event__isnull=True).exists():
        return
    SourceImage.objects.filter(deployment=deployment).update(event=None)
    Event.objects.filter(deployment=deployment).delete()
    deployment.update_calculated_fields()


def action_path(action: str, deployment: Deployment) -> str:
    args = [deployment.project_id, deployment.pk]
    if action == "regroup":
        return reverse("deployment-regroup", args=args)
    if action == "cancel":
        return reverse("deployment-regroup-cancel", args=args)
    if action == "retry":
        return reverse("deployment-regroup-retry", args=args)
    latest = Job.objects.filter(job_type_key=REGROUP_JOB, deployment=deployment).first()
    if latest is None:  # no job yet: click Regroup instead
        return reverse("deployment-regroup", args=args)
    name = "job-cancel" if action == "job-cancel" else "job-retry"
    return reverse(name, args=[deployment.project_id, latest.pk])


def test_start_retry_and_cancel_at_once_never_fail_and_never_make_two_jobs(
    live_worker, live_server, deployment, manager, project
):
    add_nights(deployment, ungrouped=3)
    colleague = get_user_model().objects.create_user("colleague")
    ProjectMembership.objects.create(
        project=project, user=colleague, role=ProjectMembership.Role.PROJECT_MANAGER
    )
    users = [manager, colleague]
    browsers = [Browser.signed_in(live_server.url, users[n % 2]) for n in range(CLIENTS)]
    answers: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS, action=lambda: ungroup_if_all_grouped(deployment))
    sampler = Sampler(deployment)

    def click(index: int) -> None:
        pick = random.Random(index)  # the same clicks on every run of the test
        try:
            for _ in range(ROUNDS):
                action = pick.choice(ACTIONS)
                path = action_path(action, deployment)
                barrier.wait(timeout=120)
                status, body = browsers[index].post(path, htmx=pick.random() < 0.5)
                with lock:
                    answers[status] += 1
                    if status >= 500:
                        failures.append(f"{action} {path} -> {status}: {body[:300]}")
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(n,)) for n in range(CLIENTS)]
    sampling = threading.Thread(target=sampler.run)
    sampling.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sampler.stop.set()
    sampling.join()

    assert failures == []
    assert set(answers) <= {200, 302}, answers
    assert sum(answers.values()) == ROUNDS * CLIENTS
    assert sampler.samples > ROUNDS and sampler.most <= 1
    live_worker.assert_alive()
    # The rounds did reach the racy moments: jobs cancelled before a worker took them, and
    # jobs a worker ran to the end.
    statuses = Counter(Job.objects.values_list("status", flat=True))
    assert statuses[JobStatus.REVOKED] > 0 and statuses[JobStatus.SUCCESS] > 0, statuses
    assert Job.objects.filter(status__in=ACTIVE_STATUSES).count() <= 1
