"""Add captures at scale, on PostgreSQL: a 1,000,000-row CSV into a deployment that already
has 660,000 captures, as the Add captures job runs it, against a raw COPY of the same rows.

Seeds (once) the demo's big deployment (`seed_demo --captures 660000`) and groups all its
captures, then writes the CSV (1,000 captures a night, on the nights before the deployment's
first: an older card synced late, since nights after its last would be in the future).
Each measured step runs in a fresh process: the floor (the rows sent with COPY, nothing
checked, skipped or grouped), then the job as it was before its Import became one statement
a chunk (the code of BEFORE_REV), then the job as it is, each run as a worker runs it (Check,
Import, Group sessions, Refresh counts), timing each stage and the process's peak memory.
The deployment is put back as it was after each, by deleting the rows added, and nothing
analyzes the table in between: each run meets the statistics an import after a big change
meets, whatever autovacuum has done by then. Writes its own section of bench/results.md.

    BENCH_IMPORT_DATABASE_URL=postgres://... BENCH_IMPORT_ROWS=1000000 python bench/add_captures.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from run import ensure_database, machine, manage, write_section

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_IMPORT_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/ungrouped_captures_bench_import",
)
# The seeded deployment's size (seed_demo --captures) and the file's rows.
CAPTURES = int(os.environ.get("BENCH_IMPORT_CAPTURES", "660000"))
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
PER_NIGHT = 1_000
# The code before the Import stage's lookup and insert became one statement a chunk.
BEFORE_REV = os.environ.get("BENCH_IMPORT_BEFORE_REV", "3b4d415")
# Uploads are kept here (the job's storage) while it runs.
VAR_DIR = Path(os.environ.get("BENCH_IMPORT_VAR_DIR", tempfile.gettempdir())) / "bench-import"
ENV = {
    **os.environ,
    "DATABASE_URL": DATABASE_URL,
    # As a worker runs in production: with DEBUG on, Django would keep every statement.
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-" + "x" * 50,
    "LOG_LEVEL": "WARNING",
    "VAR_DIR": str(VAR_DIR),
    "CAPTURE_IMPORT_MAX_ROWS": str(ROWS),
    "CAPTURE_IMPORT_MAX_MB": "1000",
}
START = "<!-- add-captures benchmark: start -->"
END = "<!-- add-captures benchmark: end -->"

os.environ.update(ENV, DJANGO_SETTINGS_MODULE="config.settings")
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    import django

    django.setup()


def big_deployment():
    from monitoring.demo import BIG_DEPLOYMENT
    from monitoring.models import Deployment

    return Deployment.objects.filter(name=BIG_DEPLOYMENT).first()


# --- Steps, each in its own process -----------------------------------------------------


def step_floor(csv_path: str) -> dict:
    """The same rows into the same table with COPY: no check, no skip, no grouping."""
    import csv

    from django.db import connection

    deployment = big_deployment()
    started = time.monotonic()
    with connection.cursor() as cursor, Path(csv_path).open(newline="") as file:
        rows = csv.reader(file)
        next(rows)
        copy_sql = (
            "COPY monitoring_sourceimage (deployment_id, project_id, path, timestamp) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:
            for path, timestamp in rows:
                copy.write_row((deployment.pk, deployment.project_id, path, timestamp))
    seconds = time.monotonic() - started
    return {"seconds": seconds, "peak_mb": _peak_mb()}


def step_job(csv_path: str) -> dict:
    """The Add captures job on the file, run in this process as a worker runs it."""
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from jobs import actions
    from jobs.add_captures import ADD_CAPTURES_JOB, params_for
    from jobs.reporter import StageReporter
    from jobs.runner import run_job
    from monitoring.capture_uploads import store_upload

    deployment = big_deployment()
    idle_mb = _peak_mb()
    with Path(csv_path).open("rb") as file:
        stored = store_upload(File(file), deployment.pk, max_bytes=10**10, max_rows=ROWS)
    user = get_user_model().objects.filter(is_superuser=True).first()
    # No broker: the job is run here, as a worker runs it.
    with mock.patch("jobs.actions._dispatch_on_commit"):
        job, _ = actions.start(ADD_CAPTURES_JOB, deployment, user, params_for(stored, "bench"))

    spent: dict[str, list[float]] = {}
    # The process's peak memory when each stage ended: which stage needs it.
    peaks: dict[str, int] = {}
    start, finish = StageReporter.start, StageReporter.finish

    def timed_start(self: StageReporter) -> None:
        spent[self.stage.key] = [time.monotonic()]
        start(self)

    def timed_finish(self: StageReporter, *args, **kwargs) -> None:
        finish(self, *args, **kwargs)
        spent[self.stage.key].append(time.monotonic())
        peaks[self.stage.key] = _peak_mb()

    began = time.monotonic()
    with (
        mock.patch.object(StageReporter, "start", timed_start),
        mock.patch.object(StageReporter, "finish", timed_finish),
    ):
        run_job(job.pk)
    total = time.monotonic() - began
    job.refresh_from_db()
    if job.status != "SUCCESS":
        raise SystemExit(f"The job ended {job.status}: {job.last_error()}")
    return {
        "seconds": total,
        "stages": {key: times[-1] - times[0] for key, times in spent.items()},
        "peaks": peaks,
        "result": {key: job.result[key] for key in ("rows", "added", "already_there", "sessions")},
        "group": {
            key: job.result["regroup"][key] for key in ("mode", "captures_read", "captures_grouped")
        },
        "peak_mb": _peak_mb(),
        "idle_mb": idle_mb,
    }


def step_restore(first_new_id: str, first_new_session: str) -> dict:
    """Put the deployment back: the added captures and the sessions made for them gone."""
    from django.db import connection, transaction

    deployment = big_deployment()
    # Plain statements: nothing else refers to these rows, and the ORM would load them all.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM monitoring_sourceimage WHERE deployment_id = %s AND id >= %s",
            [deployment.pk, int(first_new_id)],
        )
        cursor.execute(
            "DELETE FROM monitoring_event WHERE deployment_id = %s AND id >= %s",
            [deployment.pk, int(first_new_session)],
        )
    deployment.update_calculated_fields()
    return {"captures": deployment.captures_count}


def step_shape() -> dict:
    """The deployment as it stands: ids the next rows will pass, and its last capture."""
    from django.db.models import Max

    from monitoring.grouping import regroup_deployment
    from monitoring.models import Event, SourceImage

    deployment = big_deployment()
    if deployment.source_images_without_event_count:
        regroup_deployment(deployment)
        deployment.refresh_from_db()
    return {
        "deployment": deployment.pk,
        "captures": deployment.captures_count,
        "sessions": deployment.events_count,
        "next_capture": (SourceImage.objects.aggregate(top=Max("pk"))["top"] or 0) + 1,
        "next_session": (Event.objects.aggregate(top=Max("pk"))["top"] or 0) + 1,
        "first": deployment.first_capture_timestamp.isoformat(),
    }


STEPS = {"floor": step_floor, "job": step_job, "restore": step_restore, "shape": step_shape}


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def step(name: str, *args: str, tree: Path = ROOT) -> dict:
    """Run a step of bench/add_captures.py (of the code in `tree`) in a fresh process."""
    done = subprocess.run(
        [sys.executable, "bench/add_captures.py", name, *args],
        cwd=tree,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"Step {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- The run ----------------------------------------------------------------------------


def write_csv(path: Path, before: datetime) -> None:
    """ROWS captures on the nights before `before` (an older memory card: later nights would
    be in the future), PER_NIGHT a night, every 20 seconds from 21:00."""
    nights = -(-ROWS // PER_NIGHT)
    first_night = (before - timedelta(days=nights + 2)).replace(
        hour=21, minute=0, second=0, microsecond=0
    )
    with path.open("w") as file:
        file.write("path,timestamp\n")
        for row in range(ROWS):
            night, shot = divmod(row, PER_NIGHT)
            moment = first_night + timedelta(days=night, seconds=20 * shot)
            file.write(f"added/{night:05d}/{shot:04d}.jpg,{moment:%Y-%m-%dT%H:%M:%SZ}\n")


def main() -> None:
    ensure_database(DATABASE_URL)
    manage("migrate", "--noinput", "-v0", env=ENV)
    setup_django()
    big = big_deployment()
    if big is None or big.captures_count < CAPTURES:
        manage("seed_demo", "--reset", "--captures", str(CAPTURES), env=ENV)
    from django.db import connection

    connection.close()
    shape = step("shape")
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "captures.csv"
        write_csv(csv_path, datetime.fromisoformat(shape["first"]).astimezone(UTC))
        size_mb = csv_path.stat().st_size / 1024 / 1024
        restore = ("restore", str(shape["next_capture"]), str(shape["next_session"]))
        floor = step("floor", str(csv_path))
        step(*restore)
        with tempfile.TemporaryDirectory(prefix="bench-before-") as tree:
            unpack(BEFORE_REV, Path(tree))
            statistics = {"before": table_statistics()}
            before = step("job", str(csv_path), tree=Path(tree))
        step(*restore)
        statistics["ours"] = table_statistics()
        job = step("job", str(csv_path))
        step(*restore)
    before["stats"] = statistics
    write_results(shape, floor, before, job, size_mb)


def table_statistics() -> str:
    """What PostgreSQL knew of the captures table as a job began, in words."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup, greatest(last_analyze, last_autoanalyze) "
            "FROM pg_stat_user_tables WHERE relname = 'monitoring_sourceimage'"
        )
        live, dead, analyzed = cursor.fetchone()
    connection.close()
    when = f"last analyzed {analyzed:%H:%M} UTC" if analyzed else "never analyzed"
    return f"{live:,} live and {dead:,} dead rows, {when}"


def unpack(revision: str, tree: Path) -> None:
    """The project's code as it was at `revision`, in `tree`."""
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)


def write_results(shape: dict, floor: dict, before: dict, job: dict, size_mb: float) -> None:
    stages = job["stages"]
    result = job["result"]

    def per_second(rows: int, seconds: float) -> str:
        return f"{rows / seconds:,.0f}" if rows and seconds else "–"

    rows = [
        ("check", "Check", result["rows"], "rows read and checked"),
        ("import", "Import", result["rows"], "rows written or skipped"),
        (
            "group",
            "Group sessions",
            job["group"]["captures_grouped"],
            f"captures grouped ({job['group']['mode']}, {job['group']['captures_read']:,} read)",
        ),
        ("refresh", "Refresh counts", 0, "the deployment recounted"),
    ]
    was = before["stages"]
    table = "\n".join(
        f"| {name} | {stages.get(key, 0):.1f} s | {per_second(count, stages.get(key, 0))} | "
        f"{was.get(key, 0):.1f} s | {what} | {job['peaks'].get(key, '–')} MB |"
        for key, name, count, what in rows
    )
    whole_row = (
        f"| **whole job** | **{job['seconds']:.1f} s** | "
        f"{per_second(result['rows'], job['seconds'])} | {before['seconds']:.1f} s | rows | "
        f"{job['peak_mb']} MB |"
    )
    floor_row = (
        f"| floor: raw `COPY` of the same rows | {floor['seconds']:.1f} s | "
        f"{per_second(result['rows'], floor['seconds'])} | | rows, nothing checked, skipped "
        "or grouped | |"
    )
    section = f"""{START}
## Add captures: a {result["rows"]:,}-row file into a {shape["captures"]:,}-capture deployment

Written by `python bench/add_captures.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Machine: {machine()}.

A CSV of {result["rows"]:,} rows ({size_mb:,.0f} MB; {PER_NIGHT:,} captures a night on the nights
before its first) added to a deployment with {shape["captures"]:,} captures in
{shape["sessions"]:,} sessions, all grouped, by the Add captures job run in one process as a
worker runs it, chunks of {os.environ.get("CAPTURE_IMPORT_CHUNK_ROWS", "5000")} rows. It added
{result["added"]:,} captures ({result["already_there"]:,} already there) and grouped them into
{result["sessions"]:,} sessions. "Before" is the same job in the same run with the code of
`{BEFORE_REV}`, whose Import looked each chunk's paths up with an `IN` list (a plan that
depended on the table's statistics) and inserted them with `bulk_create`; ours sends each
chunk as arrays in one statement that probes the path index once a row (a `LATERAL`
subquery, a nested loop whatever the statistics say), inserts the missing rows and returns
only their count and id range. Before each job run the previous run's rows were deleted and
nothing analyzed the table (when the job before this change began: {before["stats"]["before"]};
when ours began: {before["stats"]["ours"]}).

| stage | time | per second | before | of what | peak memory by its end |
|---|---|---|---|---|---|
{table}
{whole_row}
{floor_row}

Memory is the job's process's peak resident set, Django included ({job["idle_mb"]} MB with the
deployment loaded, before the job): Check and Import read the file as a stream, a chunk of rows
at a time, and Group sessions (the regroup engine) adds little to it.
{END}
"""
    write_section(START, END, section)
    print(section)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        setup_django()
        print(json.dumps(STEPS[sys.argv[1]](*sys.argv[2:]), default=str))
    else:
        main()
