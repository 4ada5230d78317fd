"""make bench: regroup at the size where the problem was seen, side by side, on PostgreSQL.

Seeds (once) the demo with a 660,000-capture deployment whose last 25% of nights have no
session, and (once) a copy of it with a three times longer history before the same
ungrouped nights. Then repeats, in rounds: our regroup (incremental), the same on the long
history, the regroup before this change (the code of BEFORE_REV), a full one, the
upstream-style baseline, the floor (the cheapest single statement writing the rows ours
writes: captures and occurrences) and the issue's floor (the captures alone), restoring the
ungrouped state before each; after ours, a regroup with nothing to do (counting the capture
rows PostgreSQL read) and one after LATE_CAPTURES new captures in the last night. Writes
medians, ratios, captures read, rows written, where the time goes and peak memory to
bench/results.md with a description of the machine. Then runs the click-to-done benchmark
(bench/path.py), the pages one (bench/pages.py), the polling one (bench/polling.py) and the
Add captures one (bench/add_captures.py), each in its own process, each rewriting only its
own section of the results.

    BENCH_DATABASE_URL=postgres://... BENCH_CAPTURES=660000 BENCH_ROUNDS=5 python bench/run.py
    python bench/run.py --only polling     # or: make bench BENCH_ONLY=polling
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ungrouped_captures_bench"
)
CAPTURES = int(os.environ.get("BENCH_CAPTURES", "660000"))
# Five rounds: on shared cores a single round of the regroup swung from 0.84x to 1.42x
# its floor, and three left the median at the mercy of one slow round.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# The same deployment with a longer history: LONG_COPIES more copies of it before it.
LONG_DATABASE_URL = os.environ.get("BENCH_LONG_DATABASE_URL", f"{DATABASE_URL}_long")
LONG_COPIES = 2
# New captures put in the last night, for the regroup that follows one.
LATE_CAPTURES = 1_000
# The code of the regroup engine before it became incremental, timed beside ours.
BEFORE_REV = os.environ.get("BENCH_BEFORE_REV", "9812104~1")
RESULTS = ROOT / "bench" / "results.md"
# Where the other benchmarks' sections begin (each starts with a marker like this).
SECTION_MARK = "<!-- "
ENV = {**os.environ, "DATABASE_URL": DATABASE_URL, "DEBUG": "1", "LOG_LEVEL": "WARNING"}

sys.path.insert(0, str(ROOT))
os.environ.update(DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=DATABASE_URL)


def ensure_database(url: str = DATABASE_URL) -> None:
    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def manage(*args: str, env: dict[str, str] = ENV) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def step(
    name: str, deployment_id: int, database_url: str = DATABASE_URL, tree: Path = ROOT
) -> dict:
    """Run one step of bench/regroup_steps.py (of the code in `tree`) in a fresh process."""
    output = subprocess.run(
        [sys.executable, "bench/regroup_steps.py", name, str(deployment_id)],
        cwd=tree,
        env={**ENV, "DATABASE_URL": database_url, "BENCH_LATE_CAPTURES": str(LATE_CAPTURES)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


PARTS = ("regroup", "path", "pages", "polling", "add_captures")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks, written to bench/results.md.")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (may be given more than once); BENCH_ONLY=a,b does the same",
    )
    only = parser.parse_args().only or [p for p in os.environ.get("BENCH_ONLY", "").split(",") if p]
    unknown = set(only) - set(PARTS)
    if unknown:
        parser.error(f"unknown part {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}")
    parts = only or PARTS
    if "regroup" in parts:
        regroup()
    # The others each in their own process: they run Django with production settings, on
    # databases of their own choosing, and add their sections to the results.
    for part in PARTS[1:]:
        if part in parts:
            subprocess.run([sys.executable, f"bench/{part}.py"], cwd=ROOT, check=True)


def regroup() -> None:
    ensure_database()
    manage("migrate", "--noinput", "-v0")

    import django

    django.setup()
    from django.db import connection

    from monitoring.demo import BIG_DEPLOYMENT
    from monitoring.models import Deployment

    big = Deployment.objects.filter(name=BIG_DEPLOYMENT).first()
    if (
        big is None
        or big.captures_count != CAPTURES + 12
        or "bench_events" not in connection.introspection.table_names()
    ):
        manage("seed_demo", "--reset", "--captures", str(CAPTURES))
        big = Deployment.objects.get(name=BIG_DEPLOYMENT)
        step("take", big.pk)
    step("restore", big.pk)
    shape = Shape.of(DATABASE_URL, big.pk)
    # Nothing of this process may hold the database: it is the long one's template, and the
    # step that has nothing to do is measured by the database's own counters.
    connection.close()
    long_shape = ensure_long_history(big.pk, shape)
    before = engine_before()

    runs: dict[str, list[dict]] = {}

    def record(name: str, result: dict, round_number: int) -> None:
        runs.setdefault(name, []).append(result)
        print(
            f"round {round_number} {name:9} {result['seconds']:7.3f} s "
            f"{result['rows']:>9,} rows written {result.get('read', '-'):>9} read "
            f"{result['peak_mb']:6.0f} MB",
            flush=True,
        )

    load_before = os.getloadavg()[0]
    for round_number in range(1, ROUNDS + 1):
        for name in ("ours", "long", "before", "floor", "floor_captures", "full", "baseline"):
            database = LONG_DATABASE_URL if name == "long" else DATABASE_URL
            step("restore", big.pk, database)
            tree = before if name == "before" else ROOT
            record(name, step(STEP_OF[name], big.pk, database, tree), round_number)
            if name == "ours":
                record("nothing", nothing_to_do(big.pk), round_number)
                record("late", step("late", big.pk), round_number)
    load = (load_before, os.getloadavg()[0])
    idle = step("idle", big.pk)
    for database in (DATABASE_URL, LONG_DATABASE_URL):
        step("restore", big.pk, database)
    write_results(runs, idle, shape, long_shape, load)


# What each row of the results runs: a step of bench/regroup_steps.py.
STEP_OF = {
    "ours": "ours",
    "long": "ours",
    "before": "ours",
    "floor": "floor",
    "floor_captures": "floor_captures",
    "full": "full",
    "baseline": "baseline",
}


class Shape(NamedTuple):
    """What a benchmark deployment holds, as its stored counts say after a restore."""

    captures: int
    ungrouped: int
    undated: int
    sessions: int
    occurrences: int

    @classmethod
    def of(cls, database_url: str, deployment_id: int) -> Shape:
        with psycopg.connect(database_url) as database:
            row = database.execute(
                "SELECT captures_count, source_images_without_event_count, "
                "source_images_without_timestamp_count, events_count, occurrences_count "
                "FROM monitoring_deployment WHERE id = %s",
                [deployment_id],
            ).fetchone()
        return cls(*row) if row else cls(0, 0, 0, 0, 0)


def ensure_long_history(deployment_id: int, shape: Shape) -> Shape:
    """The same deployment in its own database with a longer history before the same ungrouped
    nights: LONG_COPIES copies of all its dated captures, their detections and occurrences,
    each put a whole history earlier and grouped. Built once, from the seeded database."""
    expected = shape.captures + LONG_COPIES * (shape.captures - shape.undated)
    server, name = LONG_DATABASE_URL.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists and _has_snapshot(LONG_DATABASE_URL):
        # Built by an earlier run: brought up to this code's schema, as the other one is.
        manage("migrate", "--noinput", "-v0", env={**ENV, "DATABASE_URL": LONG_DATABASE_URL})
        step("restore", deployment_id, LONG_DATABASE_URL)
        long_shape = Shape.of(LONG_DATABASE_URL, deployment_id)
        if long_shape.captures == expected and long_shape.ungrouped == shape.ungrouped:
            return long_shape
    template = DATABASE_URL.rsplit("/", 1)[1]
    print(f"Building the long-history database {name} (once)…", flush=True)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    with psycopg.connect(LONG_DATABASE_URL) as database:
        first_ungrouped = database.execute(
            "SELECT min(timestamp) FROM monitoring_sourceimage "
            "WHERE deployment_id = %s AND event_id IS NULL AND timestamp IS NOT NULL",
            [deployment_id],
        ).fetchone()[0]
        for statement in LONG_HISTORY_SQL:
            database.execute(statement, {"deployment": deployment_id, "copies": LONG_COPIES})
    # Group it all, then take the sessions of the ungrouped nights away again.
    step("full", deployment_id, LONG_DATABASE_URL)
    with psycopg.connect(LONG_DATABASE_URL) as database:
        for statement in UNGROUP_SQL:
            database.execute(statement, {"deployment": deployment_id, "since": first_ungrouped})
    step("take", deployment_id, LONG_DATABASE_URL)
    step("restore", deployment_id, LONG_DATABASE_URL)
    return Shape.of(LONG_DATABASE_URL, deployment_id)


def _has_snapshot(database_url: str) -> bool:
    with psycopg.connect(database_url) as database:
        return database.execute("SELECT to_regclass('bench_events') IS NOT NULL").fetchone()[0]


# Copies of a deployment's dated captures, a whole history (in days) earlier per copy, with
# their detections and the occurrences those belong to; none in a session yet.
LONG_HISTORY_SQL = [
    """CREATE TEMP TABLE history AS SELECT
        (date_trunc('day', max(timestamp)) - date_trunc('day', min(timestamp)))
        + interval '2 days' AS span
        FROM monitoring_sourceimage WHERE deployment_id = %(deployment)s""",
    """CREATE TEMP TABLE capture_copies AS
        SELECT s.id AS old_id, copy,
            nextval(pg_get_serial_sequence('monitoring_sourceimage', 'id')) AS new_id
        FROM monitoring_sourceimage s CROSS JOIN generate_series(1, %(copies)s) AS copy
        WHERE s.deployment_id = %(deployment)s AND s.timestamp IS NOT NULL""",
    """INSERT INTO monitoring_sourceimage
        (id, deployment_id, project_id, event_id, timestamp, path, size, width, height)
        SELECT c.new_id, s.deployment_id, s.project_id, NULL,
            s.timestamp - c.copy * (SELECT span FROM history),
            s.path, s.size, s.width, s.height
        FROM capture_copies c JOIN monitoring_sourceimage s ON s.id = c.old_id""",
    """CREATE TEMP TABLE occurrence_copies AS
        SELECT o.id AS old_id, copy,
            nextval(pg_get_serial_sequence('monitoring_occurrence', 'id')) AS new_id
        FROM monitoring_occurrence o CROSS JOIN generate_series(1, %(copies)s) AS copy
        WHERE o.deployment_id = %(deployment)s""",
    """INSERT INTO monitoring_occurrence (id, project_id, deployment_id, event_id,
            determination_id, determination_score, created_at)
        SELECT c.new_id, o.project_id, o.deployment_id, NULL, o.determination_id,
            o.determination_score, o.created_at
        FROM occurrence_copies c JOIN monitoring_occurrence o ON o.id = c.old_id""",
    """INSERT INTO monitoring_detection (source_image_id, occurrence_id, bbox)
        SELECT cc.new_id, oc.new_id, d.bbox FROM monitoring_detection d
        JOIN capture_copies cc ON cc.old_id = d.source_image_id
        LEFT JOIN occurrence_copies oc ON oc.old_id = d.occurrence_id AND oc.copy = cc.copy""",
]
# The nights from `since` on lose their sessions, as the seeded deployment's have none.
UNGROUP_SQL = [
    """UPDATE monitoring_occurrence SET event_id = NULL WHERE event_id IN
        (SELECT id FROM monitoring_event WHERE deployment_id = %(deployment)s
         AND start >= %(since)s)""",
    """UPDATE monitoring_sourceimage SET event_id = NULL
        WHERE deployment_id = %(deployment)s AND timestamp >= %(since)s""",
    """DELETE FROM monitoring_event WHERE deployment_id = %(deployment)s
        AND start >= %(since)s""",
]


def engine_before() -> Path:
    """The code as it was at BEFORE_REV, unpacked beside this run, to time its regroup."""
    tree = Path(tempfile.mkdtemp(prefix="bench-before-"))
    archive = subprocess.run(
        ["git", "archive", BEFORE_REV], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def nothing_to_do(deployment_id: int) -> dict:
    """Our regroup once more, when it has nothing to do: timed, and the capture rows it read
    (rows scanned and index entries read, by PostgreSQL's own counters)."""
    with psycopg.connect(DATABASE_URL, autocommit=True) as database:
        before = _capture_rows_read(database)
        result = step("ours", deployment_id)
        # A process's counters reach the statistics when its connection has closed.
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and database.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        return {**result, "capture_rows_read": _capture_rows_read(database) - before}


def _capture_rows_read(database: psycopg.Connection) -> int:
    database.execute("SELECT pg_stat_clear_snapshot()")
    return database.execute(
        "SELECT coalesce(t.seq_tup_read, 0) + coalesce(sum(i.idx_tup_read), 0) "
        "FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid "
        "WHERE t.relname = 'monitoring_sourceimage' GROUP BY t.seq_tup_read"
    ).fetchone()[0]


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GiB RAM; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {postgres} on the same machine"
    )


def write_results(
    runs: dict[str, list[dict]], idle: dict, shape: Shape, long: Shape, load: tuple[float, float]
) -> None:
    def seconds(name: str) -> float:
        return median(runs[name], "seconds")

    def peak(name: str) -> float:
        return max(run["peak_mb"] for run in runs[name])

    rows = [
        ("(a) our regroup (incremental)", "ours"),
        (f"(b) the same, {long.captures:,} captures in all (a 3x history)", "long"),
        ("(c) our regroup before this change (it read every night)", "before"),
        ("(d) full regroup: Check every night", "full"),
        ("(e) upstream-style baseline", "baseline"),
        ("(f) floor: one statement writing the same rows", "floor"),
        ("(f') the issue's floor: one raw UPDATE of the captures alone", "floor_captures"),
        ("(g) regroup with nothing to do", "nothing"),
        (f"(h) {LATE_CAPTURES:,} new captures in the last night", "late"),
    ]
    table = "\n".join(
        f"| {label} | {seconds(name):.3f} s | {_read(runs[name])} | "
        f"{_written(runs[name])} | {peak(name):.0f} MB |"
        for label, name in rows
    )
    ours, floor, floor_captures, long_time, late, nothing = (
        seconds(name) for name in ("ours", "floor", "floor_captures", "long", "late", "nothing")
    )
    rows_read = max(run["capture_rows_read"] for run in runs["nothing"])
    targets = [
        (
            "regroup within 1.3x of the floor (one statement writing the same rows)",
            ours / floor <= 1.3,
            f"{ours / floor:.2f}x",
        ),
        (
            "regroup within 1.3x of the issue's floor (the captures alone)",
            ours / floor_captures <= 1.3,
            f"{ours / floor_captures:.2f}x",
        ),
        (
            f"the same ungrouped captures on {long.captures:,} captures within 1.2x of "
            f"{shape.captures:,}",
            long_time / ours <= 1.2,
            f"{long_time / ours:.2f}x",
        ),
        (
            f"{LATE_CAPTURES:,} new captures in the last night under 0.2 s",
            late < 0.2,
            f"{late:.3f} s",
        ),
        ("nothing to do under 0.05 s", nothing < 0.05, f"{nothing:.3f} s"),
        ("nothing to do reads no capture row", rows_read == 0, f"{rows_read:,} rows"),
        (
            "peak memory no higher than before this change",
            peak("ours") <= peak("before"),
            f"{peak('ours'):.0f} MB (before: {peak('before'):.0f} MB)",
        ),
    ]
    verdicts = "\n".join(
        f"| {target} | {measured} | {'met' if ok else 'MISSED'} |"
        for target, ok, measured in targets
    )
    phases = "\n".join(
        f"| {label} | "
        + " | ".join(f"{median_phase(runs[name], part):.2f} s" for part in PHASES)
        + f" | {seconds(name):.2f} s |"
        for label, name in (("(a) incremental", "ours"), ("(b) 3x history", "long"),
                            ("(d) full", "full"), (f"(h) {LATE_CAPTURES:,} new captures", "late"))
    )  # fmt: skip
    part = {name: median_phase(runs["ours"], name) for name in PHASES}
    by_round = {
        name: sorted(
            ours_run["seconds"] / floor_run["seconds"]
            for ours_run, floor_run in zip(runs["ours"], runs[name], strict=True)
        )
        for name in ("floor", "floor_captures")
    }
    floor_occurrences, ours_occurrences = (
        int(median(runs[name], "occurrences")) for name in ("floor", "ours")
    )
    writes = part["move"] + part["relink"] - floor
    text = f"""# Benchmark results

Written by `make bench` (bench/run.py) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.

Machine: {machine()}.

## Regroup of one deployment

{shape.captures:,} captures, {shape.ungrouped:,} of them (the last 25% of nights) without a
session, in {shape.sessions:,} sessions, with {shape.occurrences:,} occurrences, as
`seed_demo --captures {CAPTURES}` builds it; its sessions were drawn under the project's gap,
as the deployment records, so a regroup is incremental. (b) is the same deployment with
{LONG_COPIES} more copies of its history before it, grouped ({long.captures:,} captures,
{long.sessions:,} sessions, {long.occurrences:,} occurrences) and the same ungrouped nights.
(c) is the code of {BEFORE_REV}, on the same database. Each step ran {ROUNDS} times, in rounds
(all steps side by side), each in a fresh process after restoring the ungrouped state; (g) and
(h) follow (a) in each round, from what (a) left. Times are medians. Captures read: as the
regroup counts them (rows it took from the database); for (g), also PostgreSQL's own counters
of the capture table's rows scanned and index entries read while it ran. Peak memory is the
process's maximum resident set, Django included (an idle Django process that loads the
deployment peaks at {idle["peak_mb"]:.0f} MB).

| step | median time | captures read | rows written | peak memory |
|---|---|---|---|---|
{table}

Rows written: captures + occurrences. The floor (f) is the cheapest single statement that
writes the rows ours writes, all into one session: the captures without a session and the
occurrences without one ({floor_occurrences:,}; ours relinks {ours_occurrences:,}), with
ours' transaction settings (no JIT, commit not waiting for the disk). (f') is the floor as
the issue measured it, the captures alone: it leaves the occurrences unlinked, which a
regroup may not.

Ratios: ours / floor = **{ours / floor:.2f}x** (before this change:
{seconds("before") / floor:.2f}x); ours / the issue's floor = **{ours / floor_captures:.2f}x**;
baseline / ours = **{seconds("baseline") / ours:.1f}x**. Round by round, ours / floor ran from
{by_round["floor"][0]:.2f}x to {by_round["floor"][-1]:.2f}x and ours / the issue's floor from
{by_round["floor_captures"][0]:.2f}x to {by_round["floor_captures"][-1]:.2f}x. The machine's two
cores may be shared with other work (load average {load[0]:.1f} before the rounds,
{load[1]:.1f} after), which is why rounds differ and why each compares its steps side by
side, one after another.

Where the time goes (medians): reading and drawing; moving captures (the chunks' UPDATEs and
their commits, with the foreign-key checks); relinking occurrences (the same statement
counts what moved into each session); the rest of the finish (deleting empty sessions,
writing the counts of the sessions it made, recounting the other sessions it touched and
the deployment, recording the settings); and what is left (the lock, planning in memory,
progress).

| regroup | read | move | relink | finish | rest | total |
|---|---|---|---|---|---|---|
{phases}

Beyond the floor, (a) spends {ours - floor:.2f} s (medians of each part, so they need not add
up exactly): {part["read"]:.2f} s reading and drawing, which the floor never does (it sends
every capture to one session without looking); {writes:+.2f} s writing the same rows its own
way ((a)'s move and relink, {part["move"] + part["relink"]:.2f} s, against the floor's one
statement, {floor:.2f} s): in chunks of whole sessions, each its own transaction with
progress and a stop point, the occurrences found from the captures that moved;
{part["finish"]:.2f} s keeping the counts honest (each touched session's captures,
detections and occurrences, and the deployment's), which the floor leaves stale; and
{part["rest"]:.2f} s for the rest.

| target | measured | |
|---|---|---|
{verdicts}
"""
    # The other benchmarks' sections, each between its markers, stay as they were.
    old = RESULTS.read_text() if RESULTS.exists() else ""
    sections = old[old.index(SECTION_MARK) :] if SECTION_MARK in old else ""
    RESULTS.write_text(f"{text.rstrip()}\n\n{sections}" if sections else text)
    print(text)


# The parts of a regroup bench/regroup_steps.py times, then what is left of its time.
PHASES = ("read", "move", "relink", "finish", "rest")


def median_phase(runs: list[dict], part: str) -> float:
    if part == "rest":
        return statistics.median(run["seconds"] - sum(run["phases"].values()) for run in runs)
    return statistics.median(run["phases"].get(part, 0) for run in runs)


def _written(runs: list[dict]) -> str:
    text = f"{int(median(runs, 'rows')):,}"
    if "occurrences" in runs[0]:
        text += f" + {int(median(runs, 'occurrences')):,}"
    return text


def _read(runs: list[dict]) -> str:
    read = [run["read"] for run in runs if "read" in run]
    text = f"{int(statistics.median(read)):,}" if read else "all"
    if "capture_rows_read" in runs[0]:
        rows = max(run["capture_rows_read"] for run in runs)
        text += f" (PostgreSQL: {rows:,} rows)"
    return text


def write_section(start: str, end: str, section: str) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the text
    between those markers in the results, or after the results if they have none."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section.strip() + rest.split(end, 1)[1]
    else:
        text = f"{text.rstrip()}\n\n{section}" if text else section
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
