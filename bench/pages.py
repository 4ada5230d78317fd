"""Server time and SQL queries of the pages that report ungrouped captures, at full size.

Seeds (once) a database of its own with the demo at 1,000,000 captures, tops its
occurrences up to 1,000,000 with set-based SQL, and adds the default-size demo as a second,
small project in the same database. Then, in this process with Django's test client signed
in as the demo manager, requests each page N times after a warm-up and records the median
and p90 of the time around `client.get` (middleware, view, queries and template rendering),
plus the number of SQL queries on the big project and on the small one: equal counts show
that a page's queries do not grow with the data.

    BENCH_PAGES_DATABASE_URL=postgres://... BENCH_PAGES_REQUESTS=30 python bench/pages.py

Rewrites only its own section of bench/results.md (between markers); `make bench` runs it
after the regroup benchmark.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

# run.py points DATABASE_URL at the regroup bench's database when imported, so it is
# imported before this module sets its own environment below.
from run import ensure_database, machine, manage, write_section

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_PAGES_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/ungrouped_captures_pages_bench",
)
CAPTURES = 1_000_000
OCCURRENCES = 1_000_000
NO_SESSION_SHARE = 0.7  # of the added occurrences, as in the incident
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "30"))
WARMUP = 3
PAGE_TARGET_MS = 50.0
# Issue 11's target for the deployment page and the three occurrence lists.
LIST_TARGET_MS = 20.0
PARTIAL_TARGET_MS = 10.0
SMALL_PROJECT = "Fenland Moth Survey (default demo size)"
TAXON = "Noctua pronuba"  # the taxon filter's choice: one of the demo's 20
START, END = "<!-- pages benchmark: start -->", "<!-- pages benchmark: end -->"
HEADER = (
    "| page | median ms | p90 ms | CPU ms | SQL ms | template ms | queries (big data) "
    "| queries (small data) | HTML KB (big / small) | target ms | |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)
BENCH_JOB = "Benchmark: regroup progress"
PROGRESS = {
    "stages": [
        {
            "key": "regroup",
            "name": "Group captures into sessions",
            "unit": "captures",
            "status": "STARTED",
            "done": 69120,
            "total": 165432,
        }
    ]
}

# Production settings, not the development ones: DEBUG off (no query log kept), the
# test client's host allowed. Persistent connections, so each request measures the page
# and not a new PostgreSQL connection (production runs a pool or CONN_MAX_AGE for that).
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench",
    "ALLOWED_HOSTS": "testserver",
    "CONN_MAX_AGE": "600",
    "LOG_LEVEL": "WARNING",
    # Pages link the stylesheet by its hashed name (DEBUG off): collected once, in main().
    "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "ungrouped-captures-bench-static"),
}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.template.base import Template  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from jobs.models import REGROUP_JOB, Job, JobStatus  # noqa: E402
from monitoring import demo  # noqa: E402
from monitoring.models import (  # noqa: E402
    Deployment,
    Event,
    Occurrence,
    Project,
    Taxon,
)
from suggestions.models import SuggestionDismissal  # noqa: E402


@dataclass
class Page:
    label: str
    target_ms: float
    url: str
    # Text the response must contain, so we time the page with its card, banner or bar.
    expect: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Measure:
    target_ms: float
    median_ms: float
    # This process's CPU time per request (median): the Python side's work, which other
    # processes on the machine can slow down but do not add to, unlike the wall clock.
    cpu_ms: float
    p90_ms: float
    queries: int
    sql_ms: float  # time in the database, of one request
    # Time rendering templates in that request, less the queries run while rendering
    # (a page's rows are fetched as the template loops over them).
    template_ms: float
    counted_ms: float  # that request's whole time (counting its queries slows it a little)
    html_kb: float
    # The slowest few queries of one request, (ms, sql), slowest first: where the time goes.
    slowest: list[tuple[float, str]]
    sqls: list[str]  # every query of that request

    @property
    def met(self) -> bool:
        return self.median_ms < self.target_ms


# Seeding


def big_project() -> Project | None:
    return Project.objects.filter(name=demo.PROJECT_NAME).first()


def seed() -> None:
    """Each stage runs only if its data is missing, so a second run goes straight to timing."""
    project = big_project()
    big = project.deployments.filter(name=demo.BIG_DEPLOYMENT).first() if project else None
    if project is None or big is None or big.captures_count != CAPTURES + demo.UNDATED_CAPTURES:
        started = time.monotonic()
        # --reset only replaces the demo project; a half-built one (interrupted) goes too.
        manage("seed_demo", "--reset", "--captures", str(CAPTURES), env=ENV)
        print(f"seed_demo --captures {CAPTURES}: {time.monotonic() - started:.0f} s", flush=True)
        project = big_project()
        assert project is not None
        big = project.deployments.get(name=demo.BIG_DEPLOYMENT)
    changed = False
    missing = OCCURRENCES - Occurrence.objects.filter(project=project).count()
    if missing > 0:
        started = time.monotonic()
        add_occurrences(big, missing)
        Event.objects.filter(deployment=big).update_calculated_fields()
        for deployment in project.deployments.all():
            deployment.update_calculated_fields()
        print(f"{missing:,} occurrences added: {time.monotonic() - started:.0f} s", flush=True)
        changed = True
    if not Project.objects.filter(name=SMALL_PROJECT).exists():
        started = time.monotonic()
        # build_demo looks its project up by this module-level name; a second name gives
        # the default-size demo as a second project with the same users and taxa.
        with mock.patch.object(demo, "PROJECT_NAME", SMALL_PROJECT):
            demo.build_demo(captures=demo.DEFAULT_CAPTURES)
        print(f"small project built: {time.monotonic() - started:.0f} s", flush=True)
        changed = True
    if changed:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def add_occurrences(big: Deployment, count: int) -> None:
    """`count` occurrences of one detection each on random captures of the big deployment,
    NO_SESSION_SHARE of them on captures without a session. Each takes its capture's
    session, as the pipeline sets it, so the data stays consistent."""
    ungrouped = round(count * NO_SESSION_SHARE)
    taxa = list(Taxon.objects.filter(name__in=demo.TAXA).values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cursor:
        for table, condition in (
            ("bench_grouped", "event_id IS NOT NULL"),
            ("bench_ungrouped", "event_id IS NULL AND timestamp IS NOT NULL"),
        ):
            # Numbered 1..n so a random number picks a capture through the primary key.
            cursor.execute(
                f"CREATE TEMP TABLE {table} ON COMMIT DROP AS "
                "SELECT row_number() OVER (ORDER BY id) AS n, id, event_id "
                f"FROM monitoring_sourceimage WHERE deployment_id = %s AND {condition}",
                [big.pk],
            )
            cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (n)")
        # Occurrence ids are taken from its sequence up front, so the detections can be
        # inserted from the same picks.
        cursor.execute(
            "CREATE TEMP TABLE bench_picks ("
            "occurrence_id bigint, capture_id bigint, event_id bigint) ON COMMIT DROP"
        )
        for table, picks in (("bench_ungrouped", ungrouped), ("bench_grouped", count - ungrouped)):
            cursor.execute(
                "INSERT INTO bench_picks "
                "SELECT nextval(pg_get_serial_sequence('monitoring_occurrence', 'id')), "
                "c.id, c.event_id FROM ("
                f"  SELECT 1 + floor(random() * (SELECT count(*) FROM {table}))::bigint AS n"
                "   FROM generate_series(1, %s)"
                f") p JOIN {table} c USING (n)",
                [picks],
            )
        cursor.execute(
            "INSERT INTO monitoring_occurrence (id, project_id, deployment_id, event_id, "
            "determination_id, determination_score, created_at) "
            "SELECT occurrence_id, %s, %s, event_id, "
            "(%s::bigint[])[1 + floor(random() * %s)::int], "
            "round((0.4 + random() * 0.59)::numeric, 2), "
            "now() FROM bench_picks ORDER BY occurrence_id",
            [big.project_id, big.pk, taxa, len(taxa)],
        )
        cursor.execute(
            "INSERT INTO monitoring_detection (source_image_id, occurrence_id, bbox) "
            "SELECT capture_id, occurrence_id, jsonb_build_array(x, y, x + 120, y + 120) "
            "FROM (SELECT *, floor(random() * 3800)::int AS x, floor(random() * 1900)::int AS y "
            "FROM bench_picks) p ORDER BY occurrence_id"
        )


# Timing


def pages_of(project: Project) -> list[Page]:
    big = project.deployments.get(name=demo.BIG_DEPLOYMENT)
    taxon = Taxon.objects.get(name=TAXON)
    on_deployment = [project.pk, big.pk]
    occurrences = reverse("occurrence-list", args=[project.pk])
    return [
        Page(
            "Deployment page with its card",
            LIST_TARGET_MS,
            reverse("deployment-detail", args=on_deployment),
            # The card's Regroup form: a manager's card that needs action.
            f'action="{reverse("deployment-regroup", args=on_deployment)}"',
        ),
        Page(
            "Project page with the rollup",
            PAGE_TARGET_MS,
            reverse("project-detail", args=[project.pk]),
            'id="rollup-heading"',
        ),
        Page(
            "Occurrence list with its banner",
            LIST_TARGET_MS,
            occurrences,
            'id="occurrence-banner"',
        ),
        Page(
            "Occurrence list, filtered by deployment",
            LIST_TARGET_MS,
            f"{occurrences}?deployment={big.pk}",
            'id="occurrence-banner"',
        ),
        Page(
            "Occurrence list, filtered by taxon",
            LIST_TARGET_MS,
            f"{occurrences}?taxon={taxon.pk}",
            'id="occurrence-banner"',
        ),
        Page(
            "Card's progress partial (htmx, job running)",
            PARTIAL_TARGET_MS,
            reverse("deployment-regroup-progress", args=on_deployment),
            f'id="deployment-{big.pk}-card-progress"',
            {"HTTP_HX_REQUEST": "true"},
        ),
    ]


@contextmanager
def running_regroup(project: Project) -> Iterator[None]:
    """A regroup job of the big deployment, STARTED with some progress, for the partial."""
    big = project.deployments.get(name=demo.BIG_DEPLOYMENT)
    # One active regroup per deployment: a job left by an interrupted run goes first.
    Job.objects.filter(name=BENCH_JOB).delete()
    now = timezone.now()
    job = Job.objects.create(
        name=BENCH_JOB,
        job_type_key=REGROUP_JOB,
        project=project,
        deployment=big,
        status=JobStatus.STARTED,
        progress=PROGRESS,
        started_at=now,
        heartbeat_at=now,
    )
    try:
        yield
    finally:
        job.delete()


def timed_in_turns(client: Client, pages: list[Page]) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU milliseconds of REQUESTS requests of each page, the pages taken in
    turns: a burst of other work on the machine falls on every page alike. Without query
    capture, which adds its own bookkeeping to every query."""
    for page in pages:
        for _ in range(WARMUP):
            response = client.get(page.url, **page.headers)
            assert response.status_code == 200, (page.url, response.status_code)
            assert page.expect in response.text, (page.label, page.expect)
    timings: dict[str, tuple[list[float], list[float]]] = {p.label: ([], []) for p in pages}
    for _ in range(REQUESTS):
        for page in pages:
            times, cpu = timings[page.label]
            started, cpu_started = time.perf_counter(), time.process_time()
            client.get(page.url, **page.headers)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    return timings


def measure(client: Client, page: Page, times: list[float], cpu: list[float]) -> Measure:
    # One more request to count the queries and time each one: the captured queries give
    # the SQL with its parameters, the wrapper a finer time than their rounded milliseconds.
    durations: list[float] = []
    rendering = {"depth": 0, "ms": 0.0, "sql_ms": 0.0}

    def timed(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            durations.append((time.perf_counter() - started) * 1000)
            if rendering["depth"]:
                rendering["sql_ms"] += durations[-1]

    render = Template.render

    def timed_render(template: Template, context: Any) -> Any:
        # Included templates render inside their page: only the outermost one is timed.
        rendering["depth"] += 1
        started = time.perf_counter()
        try:
            return render(template, context)
        finally:
            rendering["depth"] -= 1
            if not rendering["depth"]:
                rendering["ms"] += (time.perf_counter() - started) * 1000

    with (
        CaptureQueriesContext(connection) as queries,
        connection.execute_wrapper(timed),
        mock.patch.object(Template, "render", timed_render),
    ):
        started = time.perf_counter()
        response = client.get(page.url, **page.headers)
        counted_ms = (time.perf_counter() - started) * 1000
    sqls = [query["sql"] for query in queries.captured_queries]
    assert len(sqls) == len(durations)
    return Measure(
        target_ms=page.target_ms,
        median_ms=statistics.median(times),
        cpu_ms=statistics.median(cpu),
        p90_ms=statistics.quantiles(times, n=10)[8],
        queries=len(sqls),
        sqls=sqls,
        sql_ms=sum(durations),
        template_ms=rendering["ms"] - rendering["sql_ms"],
        counted_ms=counted_ms,
        html_kb=len(response.content) / 1024,
        slowest=sorted(zip(durations, sqls, strict=True), reverse=True)[:3],
    )


def measure_project(client: Client, project: Project) -> dict[str, Measure]:
    # A dismissed card would leave the deployment page without the card we mean to time.
    SuggestionDismissal.objects.filter(
        user__username=demo.MANAGER[0], object_id__in=project.deployments.values("pk")
    ).delete()
    results: dict[str, Measure] = {}
    pages = pages_of(project)
    # The progress partial needs a running regroup, which would change the other pages.
    timings = timed_in_turns(client, [page for page in pages if not page.headers])
    for page in pages:
        if page.headers:
            with running_regroup(project):
                results[page.label] = measure(
                    client, page, *timed_in_turns(client, [page])[page.label]
                )
        else:
            results[page.label] = measure(client, page, *timings[page.label])
        result = results[page.label]
        print(
            f"{project.name[:28]:28} {page.label:45} {result.median_ms:7.1f} ms "
            f"p90 {result.p90_ms:7.1f} ms {result.queries:3} queries "
            f"(slowest {result.slowest[0][0]:.1f} ms)",
            flush=True,
        )
    return results


def explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


# Output


def write_results(
    big: dict[str, Measure],
    small: dict[str, Measure],
    sizes: dict[str, int],
    load: tuple[float, float],
) -> None:
    rows = []
    for label, result in big.items():
        other = small[label]
        same = "" if result.queries == other.queries else f" ({other.queries - result.queries:+})"
        rows.append(
            f"| {label} | {result.median_ms:.1f} | {result.p90_ms:.1f} | {result.cpu_ms:.1f} | "
            f"{result.sql_ms:.1f} | "
            f"{result.template_ms:.1f} | "
            f"{result.queries} | {other.queries}{same} | {result.html_kb:.0f} / "
            f"{other.html_kb:.0f} | < {result.target_ms:.0f} | "
            f"{'met' if result.met else '**MISSED**'} |"
        )
    # The slowest query of every page, and the three slowest of a page that misses: where
    # to look first when a figure moves.
    slow = [
        f"- {label}: {ms:.1f} ms `{shorten(sql)}`"
        for label, result in big.items()
        for ms, sql in result.slowest[: 1 if result.met else 3]
    ]
    differences = [
        f"- {label}: {side} data only: `{shorten(sql, 160)}`"
        for label in big
        for side, sql in query_differences(big[label].sqls, small[label].sqls)
    ]
    if not differences:
        verdict = ["The same queries ran on both sizes: query counts are constant."]
    elif all(big[label].queries <= small[label].queries for label in big):
        verdict = [
            "No page runs more queries on big data than on small data. Where the counts "
            "differ, these queries ran on one size only:",
            "",
            *differences,
        ]
    else:
        verdict = [
            "Query counts **GROW** with the data. Queries run on one size only:",
            "",
            *differences,
        ]
    # Where the time of a page over its target goes, from the request that was counted.
    missed = [
        f"- {label}: median {result.median_ms:.1f} ms (CPU {result.cpu_ms:.1f} ms); the "
        f"counted request took {result.counted_ms:.1f} ms: SQL {result.sql_ms:.1f} ms, "
        f"templates {result.template_ms:.1f} ms, the rest "
        f"{result.counted_ms - result.sql_ms - result.template_ms:.1f} ms (middleware, view, "
        "Python around the queries)."
        for label, result in big.items()
        if not result.met
    ]
    busy = max(load) > (os.cpu_count() or 1) / 2
    if missed and busy:
        missed.append(
            f"- Other work shared the machine (load average {load[0]:.1f} to {load[1]:.1f} on "
            f"{os.cpu_count()} cores): wall times include waiting for a core, and CPU ms "
            "grows too when the cores are shared; compare runs made on a quiet machine."
        )
    causes = [
        *(["", "Pages over their target on big data:", "", *missed] if missed else []),
        "",
        "Slowest queries on big data, in one request (three for a page over its target):",
        "",
        *slow,
    ]
    data = (
        f"Big data: the demo project as `seed_demo --captures {CAPTURES}` builds it, its big "
        f"deployment with {sizes['big_captures']:,} captures ({sizes['big_ungrouped']:,} "
        f"without a session) and {sizes['big_sessions']:,} sessions, the project's occurrences "
        f"topped up to {sizes['big_occurrences']:,} ({sizes['big_no_session']:,} without a "
        "session). Small data: the default-size demo as a second project in the same "
        f"database, its big deployment with {sizes['small_captures']:,} captures and "
        f"{sizes['small_sessions']:,} sessions, {sizes['small_occurrences']:,} occurrences in "
        "the project."
    )
    method = (
        f"Signed in as the demo manager (`demo`), each page was requested {WARMUP} times to "
        f"warm up, then {REQUESTS} times, the pages taking turns. Times are server time, "
        "around Django's test client `get`: middleware, view, queries and template, with "
        "DEBUG off and persistent database connections. CPU ms is the median CPU time of "
        "this process per request: the Python side, which other processes on the machine "
        "slow down but do not add to. One more request counted the queries and timed each "
        "one: SQL ms is their sum; template ms is the time spent rendering templates, less "
        "the queries they ran (a page's rows are fetched as its template loops over them); "
        "the rest of that request is middleware, the view and Python around the queries. "
        "The progress partial was polled with `HX-Request: true` while a regroup job of the "
        "big deployment was STARTED at 69,120 of 165,432 captures."
    )
    section = "\n".join(
        [
            START,
            "## Pages at 1,000,000 captures and 1,000,000 occurrences",
            "",
            f"Written by bench/pages.py on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            f"Machine: {machine()}. Load average (1 minute) when the timing began and ended: "
            f"{load[0]:.1f} and {load[1]:.1f}, on {os.cpu_count()} cores: times grow with it.",
            "",
            textwrap.fill(data, 92),
            "",
            textwrap.fill(method, 92),
            "",
            HEADER,
            *rows,
            "",
            *verdict,
            *causes,
            "",
            END,
            "",
        ]
    )
    write_section(START, END, section)
    print(section)


def query_differences(big: list[str], small: list[str]) -> list[tuple[str, str]]:
    """Queries run on one size and not the other, ids and literals aside."""

    def shape(sql: str) -> str:
        return re.sub(r"\b\d+\b", "N", re.sub(r"'[^']*'", "'…'", sql))

    big_shapes, small_shapes = Counter(map(shape, big)), Counter(map(shape, small))
    return [("big", sql) for sql in (big_shapes - small_shapes).elements()] + [
        ("small", sql) for sql in (small_shapes - big_shapes).elements()
    ]


def shorten(sql: str, limit: int = 300) -> str:
    """One line of SQL for the results, without the signed-in session's key."""
    sql = " ".join(sql.split()).replace("`", "'")
    sql = re.sub(r"(\"session_key\" = )'[^']*'", r"\1'…'", sql)
    return sql if len(sql) <= limit else f"{sql[:limit]}…"


def sizes_of(project: Project, small: Project) -> dict[str, int]:
    big_deployment = project.deployments.get(name=demo.BIG_DEPLOYMENT)
    small_deployment = small.deployments.get(name=demo.BIG_DEPLOYMENT)
    return {
        "big_captures": big_deployment.captures_count,
        "big_ungrouped": big_deployment.source_images_without_event_count,
        "big_sessions": big_deployment.events_count,
        "big_occurrences": sum(d.occurrences_count for d in project.deployments.all()),
        "big_no_session": sum(d.occurrences_without_event_count for d in project.deployments.all()),
        "small_captures": small_deployment.captures_count,
        "small_sessions": small_deployment.events_count,
        "small_occurrences": sum(d.occurrences_count for d in small.deployments.all()),
    }


def main() -> None:
    ensure_database(DATABASE_URL)
    manage("migrate", "--noinput", "-v0", env=ENV)
    manage("collectstatic", "--noinput", "-v0", env=ENV)
    seed()
    project, small = big_project(), Project.objects.get(name=SMALL_PROJECT)
    assert project is not None
    client = Client()
    client.force_login(get_user_model().objects.get(username=demo.MANAGER[0]))
    load_before = os.getloadavg()[0]
    big_results = measure_project(client, project)
    small_results = measure_project(client, small)
    load = (load_before, os.getloadavg()[0])
    # Where a page misses its target, the plan of its slowest query says why.
    for label, result in big_results.items():
        if not result.met:
            ms, sql = result.slowest[0]
            print(f"\n{label}: slowest query {ms:.1f} ms\n{sql}\n{explain(sql)}")
    write_results(big_results, small_results, sizes_of(project, small), load)


if __name__ == "__main__":
    main()
