"""Click to done: a small deployment's Regroup through the whole path, as production runs it.

A deployment of CAPTURES captures, all without a session, in a project of its own in the
regroup benchmark's database. A Celery worker (the Procfile's line, on Redis, a queue of
its own) is started once. Each round puts the captures back without a session, then, in
this process with Django's test client signed in as a manager (DEBUG off, connections
kept), posts Regroup as the card's button does (htmx), and asks the card's progress
partial, as the card does but every POLL_SECONDS, until it answers with the done card.
The time from sending the POST to that answer is the round's; also the server time of the
POST and of one poll. Medians over the rounds.

    BENCH_PATH_BROKER_URL=redis://127.0.0.1:6379/0 BENCH_PATH_ROUNDS=10 python bench/path.py

Rewrites only its own section of bench/results.md (between markers); `make bench` runs it
after the regroup benchmark.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# run.py points DATABASE_URL at the regroup bench's database when imported.
from run import DATABASE_URL, ensure_database, machine, manage, write_section

ROOT = Path(__file__).resolve().parent.parent
BROKER_URL = os.environ.get("BENCH_PATH_BROKER_URL", "redis://127.0.0.1:6379/0")
ROUNDS = int(os.environ.get("BENCH_PATH_ROUNDS", "10"))
CAPTURES = 1_263
POLL_SECONDS = 0.02
TARGET_SECONDS = 1.0
QUEUE = f"bench-path-{uuid.uuid4().hex[:8]}"
PROJECT = "Benchmark: click to done"
START, END = "<!-- path benchmark: start -->", "<!-- path benchmark: end -->"
DONE = "All captures are grouped into sessions."
DESCRIPTION = (
    "A deployment of {captures:,} captures over three nights, all without a session (no "
    "settings on record, so the regroup is full). Each of {rounds} rounds posts Regroup as "
    "the card's button does, with htmx, from Django's test client signed in as a manager, "
    "DEBUG off; a Celery worker (the Procfile's line) takes the job from Redis; the client "
    "then asks the card's progress partial every {poll_ms:.0f} ms until it answers with the "
    "done card. A page asks at the interval the card sets (1 s at first), so a person sees "
    "the end at that poll."
)

# Production settings, as the web and worker processes run them.
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
    "DEBUG": "0",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "testserver",
    "CONN_MAX_AGE": "600",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from config.celery import app  # noqa: E402
from jobs.models import Job  # noqa: E402
from monitoring.models import (  # noqa: E402
    Deployment,
    Event,
    Project,
    ProjectMembership,
    SourceImage,
)

HTMX = {"HTTP_HX_REQUEST": "true"}


def main() -> None:
    ensure_database()
    manage("migrate", "--noinput", "-v0", env=ENV)
    deployment, manager = setup()
    worker = start_worker()
    try:
        rounds = [one_round(deployment, manager) for _ in range(ROUNDS)]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    write(rounds)


def setup() -> tuple[Deployment, object]:
    project, _ = Project.objects.get_or_create(name=PROJECT)
    deployment, _ = Deployment.objects.get_or_create(project=project, name="Trap C")
    if not deployment.captures.exists():
        first = datetime(2024, 6, 1, 21, tzinfo=UTC)
        # Three nights of captures a minute apart: three sessions to draw.
        SourceImage.objects.bulk_create(
            SourceImage(
                deployment=deployment,
                project=project,
                timestamp=first + timedelta(days=number % 3, minutes=number // 3),
                path=f"path/{number:05d}.jpg",
            )
            for number in range(CAPTURES)
        )
    manager, _ = get_user_model().objects.get_or_create(username="bench-path-manager")
    ProjectMembership.objects.update_or_create(
        project=project, user=manager, defaults={"role": "project_manager"}
    )
    return deployment, manager


def start_worker() -> subprocess.Popen:
    """The Procfile's worker, on its own queue; returns once it answers a ping."""
    hostname = f"{QUEUE}@bench"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=WARNING",
            "--prefetch-multiplier=1",
            "--concurrency=1",
            "-Q",
            QUEUE,
            "-n",
            hostname,
        ],
        cwd=ROOT,
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(destination=[hostname], timeout=0.5):
            return worker
    worker.terminate()
    raise RuntimeError("The benchmark's worker did not start.")


def one_round(deployment: Deployment, manager) -> dict:
    """Put the captures back without a session, then click Regroup and poll until done."""
    Job.objects.filter(deployment=deployment).delete()
    SourceImage.objects.filter(deployment=deployment).update(event=None)
    Event.objects.filter(deployment=deployment).delete()
    Deployment.objects.filter(pk=deployment.pk).update(
        sessions_gap_seconds=None, sessions_rules_version=None
    )
    deployment.refresh_from_db()
    deployment.update_calculated_fields()
    client = Client()
    client.force_login(manager)
    args = [deployment.project_id, deployment.pk]
    progress = reverse("deployment-regroup-progress", args=args)
    client.get(progress, **HTMX)  # a warm connection and session, as an open page has

    clicked = time.perf_counter()
    answer = client.post(reverse("deployment-regroup", args=args), {"region": "card"}, **HTMX)
    posted = time.perf_counter()
    assert answer.status_code == 200, answer.status_code
    polls = []
    while True:
        started = time.perf_counter()
        answer = client.get(progress, **HTMX)
        polls.append(time.perf_counter() - started)
        if DONE in answer.text:
            return {"done": time.perf_counter() - clicked, "post": posted - clicked, "poll": polls}
        if time.perf_counter() - clicked > 60:
            raise RuntimeError("The regroup did not end within a minute.")
        time.sleep(POLL_SECONDS)


def write(rounds: list[dict]) -> None:
    done = statistics.median(r["done"] for r in rounds)
    post = statistics.median(r["post"] for r in rounds)
    poll = statistics.median(p for r in rounds for p in r["poll"])
    verdict = "met" if done < TARGET_SECONDS else "MISSED"
    description = textwrap.fill(
        DESCRIPTION.format(captures=CAPTURES, rounds=ROUNDS, poll_ms=POLL_SECONDS * 1000),
        width=92,
    )
    section = f"""{START}
## Click to done: Regroup of a small deployment, through a worker on Redis

Written by bench/path.py on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.

Machine: {machine()}.

{description}

| median | click to done | the POST's server time | one poll's server time |
|---|---|---|---|
| {ROUNDS} rounds | {done:.3f} s | {post * 1000:.1f} ms | {poll * 1000:.1f} ms |

Target: click to done under {TARGET_SECONDS:.0f} s. Measured: {done:.3f} s: **{verdict}**.
{END}"""
    write_section(START, END, section)
    print(section)


if __name__ == "__main__":
    main()
