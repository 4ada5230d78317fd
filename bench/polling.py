"""People watching a running regroup: progress polls against gunicorn, old and new, side by side.

Puts a regroup job of the demo's big deployment in STARTED state and, in a thread, saves its
progress once a second as a worker does (JOBS_PROGRESS_SAVE_SECONDS), or holds it still, as
a job waiting for a worker is. Then, for each scenario, starts gunicorn as production runs
it (DEBUG off, PostgreSQL) and has POLLERS simulated browsers, each signed in with its own
session, poll the card's progress partial with `HX-Request: true` for DURATION seconds after
a warm-up, on keep-alive connections where the server allows them. Scenarios run in rounds,
one after the other, so the old setting and the new one meet the same machine; each
scenario's figures pool its rounds. Also times one poll at a time in this process.

A poller sends a request every INTERVAL seconds (or every `hx-trigger` interval the server
sets, in the scenario that says so), never two at once: when an answer comes late, the next
request goes at once, as htmx's `every` trigger queues it. It follows the `hx-get` of each
200 answer, as the swapped-in element would, and keeps its URL on a 204. Latency is
measured by the client, from sending the request to the end of the answer.

    BENCH_POLLING_DATABASE_URL=postgres://... BENCH_POLLERS=100 BENCH_POLLING_SECONDS=20 \
        python bench/polling.py

Uses the regroup benchmark's database (seeding the demo there if it is missing) and rewrites
only its own section of bench/results.md, between markers. `make bench` runs it last;
`python bench/run.py --only polling` (or `make bench BENCH_ONLY=polling`) runs it alone.
"""

from __future__ import annotations

import asyncio
import html
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# run.py points DATABASE_URL at the regroup bench's database when imported.
from run import DATABASE_URL as REGROUP_DATABASE_URL
from run import ensure_database, machine, manage, write_section

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_POLLING_DATABASE_URL", REGROUP_DATABASE_URL)
POLLERS = int(os.environ.get("BENCH_POLLERS", "100"))
DURATION = float(os.environ.get("BENCH_POLLING_SECONDS", "20"))
WARMUP = 3.0
WARMUP_REQUESTS, TIMED_REQUESTS = 20, 200  # one poll at a time, in this process
ROUNDS = int(os.environ.get("BENCH_POLLING_ROUNDS", "2"))
INTERVAL = 1.0  # htmx's `every 1s`, what each poller did before this change
TIMEOUT = 30.0  # gunicorn's own worker timeout: an answer later than this is an error
TARGET_P95_MS = 250.0
SEED_CAPTURES = 660_000  # only if the database has no demo yet: the incident's size
BENCH_JOB = "Benchmark: polling"
START, END = "<!-- polling benchmark: start -->", "<!-- polling benchmark: end -->"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
GUNICORN_LOG = ROOT / "bench" / "polling-gunicorn.log"

# Production settings: DEBUG off, so no query log grows and templates are cached.
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
    # Error pages link the stylesheet by its hashed name: collected once, below.
    "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "ungrouped-captures-bench-static"),
}
for name in ("WEB_CONCURRENCY", "WEB_THREADS", "CONN_MAX_AGE"):
    ENV.pop(name, None)  # each setting below says its own
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.models import REGROUP_JOB, Job, JobStatus  # noqa: E402
from monitoring import demo  # noqa: E402
from monitoring.models import Deployment  # noqa: E402


@dataclass
class Setting:
    """How the web process runs: the gunicorn command line and its environment."""

    label: str
    args: list[str]
    env: dict[str, str]
    concurrency: str


@dataclass
class Scenario:
    setting: Setting
    # Whether the job's progress is saved every second (polls see a change), or the job
    # waits (for a worker, or in a long step) and polls have nothing new to see.
    moving: bool = True
    # Whether pollers follow the interval the server sets, or ask every INTERVAL seconds.
    server_interval: bool = False
    # The scenario the target is about.
    target: bool = False

    @property
    def label(self) -> str:
        job = "job moving every second" if self.moving else "job waiting, nothing new"
        polls = "polls at the server's interval" if self.server_interval else "a poll a second"
        return f"{self.setting.label}: {job}, {polls}"


@dataclass
class OnePoll:
    label: str
    median_ms: float
    p90_ms: float
    queries: int
    size: int  # bytes of the answer


@dataclass
class Sample:
    status: int  # 0 when no answer came
    ms: float


@dataclass
class Outcome:
    scenario: Scenario
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0  # measured time, all rounds

    @property
    def ok(self) -> list[float]:
        return [s.ms for s in self.samples if s.status in (200, 204)]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.status not in (200, 204))

    @property
    def unchanged(self) -> int:
        return sum(1 for s in self.samples if s.status == 204)

    def percentile(self, p: int) -> float:
        if len(self.ok) < 2:
            return float("nan")
        return statistics.quantiles(self.ok, n=100, method="inclusive")[p - 1]

    @property
    def met(self) -> bool:
        return bool(self.ok) and self.errors == 0 and self.percentile(95) < TARGET_P95_MS


def settings_compared() -> tuple[Setting, Setting]:
    """The Procfile's web line before this change, and as it is now."""
    old = Setting(
        "1 sync worker (the old Procfile line)",
        # The old line: gunicorn's defaults, one sync worker (WEB_CONCURRENCY unset).
        ["config.wsgi"],
        {"CONN_MAX_AGE": "0"},
        "1 process × 1 thread (sync); a new database connection per request",
    )
    from config import gunicorn as new_config

    new = Setting(
        "The Procfile's default",
        ["--config", "config/gunicorn.py", "config.wsgi"],
        {},
        f"{new_config.workers} processes × {new_config.threads} threads (gthread); "
        "database connections kept",
    )
    return old, new


# Setting up


def seed() -> None:
    if not Deployment.objects.filter(name=demo.BIG_DEPLOYMENT).exists():
        manage("seed_demo", "--captures", str(SEED_CAPTURES), env=ENV)


@contextmanager
def running_regroup() -> Iterator[tuple[Deployment, threading.Event]]:
    """A regroup job of the big deployment, STARTED five minutes ago, whose progress a
    thread saves every second, as a worker does, while the event it yields is set."""
    big = Deployment.objects.get(name=demo.BIG_DEPLOYMENT)
    Job.objects.filter(name=BENCH_JOB).delete()  # left by an interrupted run
    total = max(big.source_images_without_event_count, 1)
    # The job changed status five minutes ago: pollers following the server slow down.
    since = timezone.now() - timedelta(minutes=5)
    job = Job.objects.create(
        name=BENCH_JOB,
        job_type_key=REGROUP_JOB,
        project=big.project,
        deployment=big,
        status=JobStatus.STARTED,
        progress=progress(0, total),
        started_at=since,
        heartbeat_at=since,
    )
    Job.objects.filter(pk=job.pk).update(updated_at=since)
    stop, moving = threading.Event(), threading.Event()

    def save_progress() -> None:
        done, step = 0, max(total // 900, 1)  # a quarter of an hour for the whole stage
        try:
            while not stop.wait(1.0):
                if not moving.is_set():
                    continue
                done = (done + step) % total
                Job.objects.filter(pk=job.pk).update(
                    progress=progress(done, total), heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    saver = threading.Thread(target=save_progress, name="progress-saver", daemon=True)
    saver.start()
    try:
        yield big, moving
    finally:
        stop.set()
        saver.join()
        job.delete()


def progress(done: int, total: int) -> dict:
    return {
        "stages": [
            {
                "key": "regroup",
                "name": "Group captures into sessions",
                "unit": "captures",
                "status": "STARTED",
                "done": done,
                "total": total,
                "eta_seconds": (total - done) if done else None,
                "stats": {},
            }
        ]
    }


@contextmanager
def member_sessions(count: int) -> Iterator[list[str]]:
    """`count` signed-in sessions of the demo's basic member: one per person watching."""
    member = get_user_model().objects.get(username=demo.MEMBER[0])
    keys = []
    for _ in range(count):
        client = Client()
        client.force_login(member)
        keys.append(client.session.session_key)
    try:
        yield keys
    finally:
        Session.objects.filter(session_key__in=keys).delete()


@contextmanager
def gunicorn(setting: Setting) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Its errors go to a file (bench/*.log is not committed): a pipe nobody reads could
    # fill up and stall the server mid-run.
    log = GUNICORN_LOG.open("a")
    process = subprocess.Popen(
        [GUNICORN, "--bind", f"127.0.0.1:{port}", *setting.args],
        cwd=ROOT,
        env={**ENV, **setting.env},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as error:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: see {GUNICORN_LOG}") from error
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# Load


class Connection:
    """One browser's HTTP/1.1 connection: kept alive when the server allows it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, str]:
        reused = self.writer is not None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("closed by the server")
        except OSError:
            self.close()
            if not reused:
                raise
            # The server closed an idle kept-alive connection as the request went out;
            # browsers send such a request again on a new connection, and so does this.
            return await self.get(path, headers)
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            answer[name.strip().lower()] = value.strip()
        if "content-length" in answer:
            body = await self.reader.readexactly(int(answer["content-length"]))
        elif answer.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await self.reader.readline()).strip(), 16):
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        elif status in (204, 304):
            body = b""
        else:
            body = await self.reader.read()
            answer["connection"] = "close"
        if answer.get("connection", "").lower() == "close":
            self.close()
        return status, body.decode()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def poller(
    port: int,
    session: str,
    scenario: Scenario,
    url: str,
    page: str,
    start: float,
    measure_from: float,
    stop_at: float,
    samples: list[Sample],
) -> None:
    connection = Connection(port)
    headers = {
        "Cookie": f"sessionid={session}",
        "HX-Request": "true",
        "HX-Current-URL": f"http://127.0.0.1:{port}{page}",
        "Accept": "*/*",
    }
    path, interval = url, INTERVAL
    next_at = start
    try:
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            sent = time.monotonic()
            if sent >= stop_at:
                return
            try:
                status, body = await asyncio.wait_for(connection.get(path, headers), TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                connection.close()
                status, body = 0, ""
            ms = (time.monotonic() - sent) * 1000
            if sent >= measure_from:
                samples.append(Sample(status, ms))
            if status == 200:
                # The swapped-in element: its URL, and the interval it polls at.
                if found := re.search(r'hx-get="([^"]+)"', body):
                    path = html.unescape(found.group(1))
                if scenario.server_interval and (
                    every := re.search(r'hx-trigger="every (\d+)s"', body)
                ):
                    interval = float(every.group(1))
            next_at = sent + interval
    finally:
        connection.close()


async def load(
    port: int, scenario: Scenario, sessions: list[str], url: str, page: str
) -> list[Sample]:
    loop_start = time.monotonic()
    measure_from = loop_start + WARMUP
    stop_at = measure_from + DURATION
    samples: list[Sample] = []
    rng = random.Random(7)
    await asyncio.gather(
        *(
            poller(
                port,
                session,
                scenario,
                url,
                page,
                loop_start + rng.uniform(0, INTERVAL),
                measure_from,
                stop_at,
                samples,
            )
            for session in sessions
        )
    )
    return samples


def run_scenario(scenario: Scenario, sessions: list[str], url: str, page: str) -> list[Sample]:
    with gunicorn(scenario.setting) as port:
        return asyncio.run(load(port, scenario, sessions, url, page))


def server_times(url: str, page: str, session: str) -> list[OnePoll]:
    """One poll's server time, one at a time, in this process (Django's test client, no
    network): rendered, and answered 204 because nothing changed. The job is not moving."""
    client = Client(HTTP_HOST="127.0.0.1", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page)
    client.cookies["sessionid"] = session
    first = client.get(url)
    seen_url = html.unescape(re.search(r'hx-get="([^"]+)"', first.text).group(1))
    results = []
    for label, path, status in (
        ("Rendered: the progress region (the job moved)", url, 200),
        ("Unchanged: 204, nothing rendered", seen_url, 204),
    ):
        for _ in range(WARMUP_REQUESTS):
            assert client.get(path).status_code == status, (label, path)
        times = []
        for _ in range(TIMED_REQUESTS):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        results.append(
            OnePoll(
                label,
                statistics.median(times),
                statistics.quantiles(times, n=10)[8],
                len(queries),
                len(response.content),
            )
        )
    return results


# Output


def write_results(
    outcomes: list[Outcome], one_poll: list[OnePoll], big: Deployment, load: tuple[float, float]
) -> None:
    rows = []
    for outcome in outcomes:
        scenario = outcome.scenario
        requests = len(outcome.samples)
        rows.append(
            f"| {scenario.label} | {scenario.setting.concurrency} | {requests:,} | "
            f"{requests / outcome.seconds:.0f} | {outcome.percentile(50):.0f} | "
            f"{outcome.percentile(95):.0f} | {outcome.percentile(99):.0f} | "
            f"{max(outcome.ok, default=float('nan')):.0f} | {outcome.errors:,} | "
            f"{outcome.unchanged * 100 / max(requests, 1):.0f}% |"
        )
    polls = [
        f"| {poll.label} | {poll.median_ms:.1f} | {poll.p90_ms:.1f} | {poll.queries} | "
        f"{poll.size:,} |"
        for poll in one_poll
    ]
    target = next(o for o in outcomes if o.scenario.target)
    before = outcomes[0]
    verdict = (
        f"Target: {POLLERS} pollers at a poll a second each, on the Procfile's default, 0 "
        f"errors and p95 under {TARGET_P95_MS:.0f} ms. Measured: {target.errors:,} errors, "
        f"p95 {target.percentile(95):.0f} ms: **{'met' if target.met else 'MISSED'}** (the "
        f"old single sync worker, same load: {before.errors:,} errors, p95 "
        f"{before.percentile(95):.0f} ms)."
    )
    method = (
        f"{POLLERS} simulated browsers, each signed in as the demo's basic member with its own "
        "session, polled the deployment card's progress partial (`regroup/progress/`, with "
        f"`HX-Request: true`) of {big.name} ({big.captures_count:,} captures, "
        f"{big.source_images_without_event_count:,} without a session) while a regroup job "
        "of it was STARTED. A thread saved the job's progress every second, as a worker does "
        "(job moving), or not at all (job waiting: for a worker, or in a long step). Each "
        "browser follows the `hx-get` of every answer that swaps, as htmx does, and asks "
        f"every {INTERVAL:.0f} s, never twice at once, except in the last row, where it "
        "follows the interval the server sets (the job changed status five minutes ago, so "
        f"5 s). Each scenario ran {ROUNDS} times, in rounds, for {DURATION:.0f} s after a "
        f"{WARMUP:.0f} s warm-up, against gunicorn started afresh with DEBUG off on "
        "PostgreSQL; figures pool the rounds. Latency is the client's, from sending a request "
        "to the end of its answer, on keep-alive connections where the server keeps them "
        "(the sync worker closes each). The load generator, PostgreSQL and gunicorn share "
        f"the machine's two cores, with whatever else ran there (load average {load[0]:.1f} "
        f"before the run, {load[1]:.1f} after)."
    )
    one_at_a_time = (
        "One poll's server time, one at a time, in the benchmark's process (Django's test "
        f"client, no network, DEBUG off, connections kept): {TIMED_REQUESTS} requests after "
        f"{WARMUP_REQUESTS} to warm up; queries of one more."
    )
    section = "\n".join(
        [
            START,
            f"## Progress polls: {POLLERS} people watching a running regroup",
            "",
            f"Written by bench/polling.py on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            f"Machine: {machine()}.",
            "",
            textwrap.fill(method, 92),
            "",
            "| scenario | web concurrency | requests | requests/s | p50 ms | p95 ms | p99 ms "
            "| max ms | errors | answered 204 |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            textwrap.fill(verdict, 92),
            "",
            textwrap.fill(one_at_a_time, 92),
            "",
            "| poll | median ms | p90 ms | queries | bytes |",
            "|---|---|---|---|---|",
            *polls,
            "",
            END,
            "",
        ]
    )
    write_section(START, END, section)
    print(section)


def main() -> None:
    ensure_database(DATABASE_URL)
    manage("migrate", "--noinput", "-v0", env=ENV)
    manage("collectstatic", "--noinput", "-v0", env=ENV)
    GUNICORN_LOG.write_text("")
    seed()
    old, new = settings_compared()
    scenarios = [
        Scenario(old),
        Scenario(old, moving=False),
        Scenario(new, target=True),
        Scenario(new, moving=False),
        Scenario(new, server_interval=True),
    ]
    outcomes = [Outcome(scenario) for scenario in scenarios]
    load_before = os.getloadavg()[0]
    with running_regroup() as (big, moving), member_sessions(POLLERS) as sessions:
        url = reverse("deployment-regroup-progress", args=[big.project_id, big.pk])
        page = big.get_absolute_url()
        one_poll = server_times(url, page, sessions[0])
        for round_number in range(1, ROUNDS + 1):
            for outcome in outcomes:
                if outcome.scenario.moving:
                    moving.set()
                else:
                    moving.clear()
                started = time.monotonic()
                samples = run_scenario(outcome.scenario, sessions, url, page)
                outcome.samples += samples
                outcome.seconds += DURATION
                ok = sorted(s.ms for s in samples if s.status in (200, 204)) or [float("nan")]
                print(
                    f"round {round_number} {outcome.scenario.label:62} "
                    f"{len(samples) / DURATION:5.0f} req/s "
                    f"p50 {ok[len(ok) // 2]:6.0f} ms p95 {ok[int(len(ok) * 0.95)]:6.0f} ms "
                    f"errors {sum(1 for s in samples if s.status not in (200, 204))} "
                    f"({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
    write_results(outcomes, one_poll, big, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
