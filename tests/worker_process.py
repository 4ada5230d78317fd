"""A real Celery worker process for integration tests.

`running_worker()` starts `celery worker` in a child process that consumes through the
configured broker (kombu's filesystem transport by default, Redis or RabbitMQ when
CELERY_BROKER_URL says so) and reads and writes the *test* database, waits until it is
ready, and always stops it.

Each worker gets a queue of its own, named for the run: the test process sends its tasks
there and the worker consumes only from there. So a message left over from the demo, from
another test or from an aborted run can never reach this worker, and nothing this test
sends can reach a demo worker that shares the broker.

This module is also the worker's Celery app (`celery -A tests.worker_process`): it is the
project's app with the run's queue made the default, so tasks the worker itself dispatches
stay in the run too. Being loaded by test workers only, it also holds their test-only
gate: `running_worker(..., pause_after_chunk=N)` starts a worker whose jobs wait after
their Nth chunk until the test releases them, so a test can act mid-run however fast the
machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from celery import Celery
from celery.signals import worker_ready

from config.celery import app

__all__ = ["CeleryWorker", "app", "database_url_for", "poll_until", "running_worker"]

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE_ENV = "TEST_WORKER_QUEUE"
READY_FILE_ENV = "TEST_WORKER_READY_FILE"
PAUSE_AFTER_CHUNK_ENV = "TEST_WORKER_PAUSE_AFTER_CHUNK"
GATE_DIR_ENV = "TEST_WORKER_GATE_DIR"
# A test that never releases its gate must not hang the run: the job goes on after this.
GATE_TIMEOUT = 120.0

T = TypeVar("T")


@dataclass(frozen=True)
class Gate:
    """Two files in a worker's folder: `paused`, which the worker writes when its job waits,
    and `released`, which the test writes to let it go on."""

    folder: Path

    @property
    def paused(self) -> Path:
        return self.folder / "paused"

    @property
    def released(self) -> Path:
        return self.folder / "released"


def route_app_to_queue(celery_app: Celery, queue: str) -> None:
    """Send every task dispatched from now on to `queue` unless it names another."""
    celery_app.conf.task_default_queue = queue
    # Celery builds its queue table, default exchange and router on first use and keeps
    # them on `app.amqp`; drop it so the next dispatch builds them from the new setting.
    celery_app.__dict__.pop("amqp", None)


# --- In the worker process -------------------------------------------------------------

if os.environ.get(QUEUE_ENV):
    route_app_to_queue(app, os.environ[QUEUE_ENV])


@worker_ready.connect
def _announce_ready(**kwargs: Any) -> None:
    # Ready comes before the first task, and after Django is set up.
    if os.environ.get(PAUSE_AFTER_CHUNK_ENV):
        _pause_after_chunk(
            int(os.environ[PAUSE_AFTER_CHUNK_ENV]), Gate(Path(os.environ[GATE_DIR_ENV]))
        )
    # A file, rather than a line matched in the log, so readiness does not depend on the
    # log level or the wording of Celery's messages.
    ready_file = os.environ.get(READY_FILE_ENV)
    if ready_file:
        Path(ready_file).touch()


def _pause_after_chunk(chunk: int, gate: Gate) -> None:
    """Make a job stage that reports its `chunk`th chunk done wait there, its progress
    saved, until the test releases the gate; once released, the gate stays open."""
    from jobs.reporter import StageReporter

    report = StageReporter.update

    def update(self: StageReporter, done: int, total: int) -> None:
        report(self, done, total)
        if done == 0:  # the stage's first report, of nothing done, is its start
            return
        self.chunks_reported = getattr(self, "chunks_reported", 0) + 1
        if self.chunks_reported != chunk or gate.released.exists():
            return
        self.reporter.save(force=True)  # what the test reads while the job waits
        gate.paused.touch()
        deadline = time.monotonic() + GATE_TIMEOUT
        while not gate.released.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    StageReporter.update = update


# --- In the test process ---------------------------------------------------------------


def database_url_for(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL naming the database described by a Django connection's settings.

    Read it from `django.db.connection.settings_dict` once the test database exists: its
    NAME is then the test database (the SQLite file, or `test_<name>` on PostgreSQL).
    """
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        if name == ":memory:" or name.startswith("file:"):
            raise ValueError(
                "A worker process cannot share an in-memory SQLite database; give the test "
                "database a file name (DATABASES['default']['TEST']['NAME'])."
            )
        return f"sqlite:///{Path(name).resolve()}"
    schemes = {"django.db.backends.postgresql": "postgres", "django.db.backends.mysql": "mysql"}
    if engine not in schemes:
        raise ValueError(f"No DATABASE_URL scheme known for {engine}.")
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    # A socket directory as host must be quoted to fit in the URL's host part.
    host = quote(settings_dict.get("HOST") or "", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"{schemes[engine]}://{credentials}{host}{port}/{quote(name, safe='')}"


def poll_until(
    check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """Call `check` until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"Gave up after {timeout:.0f} s waiting for {what or check}.")
        time.sleep(interval)


@dataclass
class CeleryWorker:
    """A running worker process, as `running_worker()` yields it."""

    queue: str
    process: subprocess.Popen[bytes]
    log_path: Path
    gate: Gate

    def log(self) -> str:
        """Everything the worker has written so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"The Celery worker exited with status {self.process.returncode}:\n{self.log()}"
            )

    def wait_for(self, check: Callable[[], T], *, timeout: float = 30.0, what: str = "") -> T:
        """`poll_until`, but fail at once, with the worker's log, if the worker dies."""

        def checked() -> T:
            self.assert_alive()
            return check()

        try:
            return poll_until(checked, timeout=timeout, what=what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\nWorker log:\n{self.log()}") from None

    def wait_until_paused(self, timeout: float = 30.0) -> None:
        """Wait until a job of this worker (started with `pause_after_chunk`) waits at the
        gate, its progress saved."""
        self.wait_for(self.gate.paused.exists, timeout=timeout, what="a job to pause")

    def release(self) -> None:
        """Let the paused job go on, and any later one pass the gate."""
        self.gate.released.touch()


def worker_command(queue: str) -> list[str]:
    celery = Path(sys.executable).with_name("celery")
    return [
        str(celery),
        "-A",
        "tests.worker_process",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "--loglevel=INFO",
        f"--queues={queue}",
        # A node name of its own, so it never clashes with a demo worker on the same broker.
        f"--hostname={queue}-{uuid.uuid4().hex[:6]}@%h",
        # No chatter with other workers on the broker: faster start, and nothing shared.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]


@contextmanager
def running_worker(
    settings_dict: dict[str, Any],
    work_dir: Path,
    *,
    pause_after_chunk: int | None = None,
    queue: str | None = None,
    start_timeout: float = 60.0,
    stop_timeout: float = 15.0,
) -> Iterator[CeleryWorker]:
    """Start a worker on the database in `settings_dict`; yield it once it is ready.

    `work_dir` holds the worker's log, ready file and gate. The test process's tasks are
    routed to the worker's own queue for the duration, then back to the default. With
    `pause_after_chunk`, the first job stage to report that many chunks done waits until
    `worker.release()` (see `CeleryWorker.wait_until_paused`). Give `queue`, another
    running worker's, for several workers taking the same tasks; the worker that made the
    queue deletes it.
    """
    from django.conf import settings

    owns_queue = queue is None
    queue = queue or f"test-{uuid.uuid4().hex[:12]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"{queue}.log"
    ready_file = work_dir / f"{queue}.ready"
    gate = Gate(work_dir)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        "DATABASE_URL": database_url_for(settings_dict),
        # Same broker and, for the filesystem transport, the same folders as this process,
        # which derive from VAR_DIR; the queue name is what keeps the run apart.
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "VAR_DIR": str(settings.VAR_DIR),
        QUEUE_ENV: queue,
        READY_FILE_ENV: str(ready_file),
        "PYTHONUNBUFFERED": "1",
    }
    if pause_after_chunk is not None:
        env |= {PAUSE_AFTER_CHUNK_ENV: str(pause_after_chunk), GATE_DIR_ENV: str(work_dir)}
    previous_default_queue = app.conf.task_default_queue
    route_app_to_queue(app, queue)
    process: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                worker_command(queue),
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        worker = CeleryWorker(queue=queue, process=process, log_path=log_path, gate=gate)
        worker.wait_for(ready_file.exists, timeout=start_timeout, what="the worker to be ready")
        yield worker
    finally:
        if process is not None:
            # A job still paused would keep a warm shutdown waiting.
            gate.released.touch()
            _stop(process, stop_timeout)
        if owns_queue:
            _delete_run_queue(queue)
        route_app_to_queue(app, previous_default_queue)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    # SIGTERM is Celery's warm shutdown: finish the task at hand, then exit.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _delete_run_queue(queue_name: str) -> None:
    """Drop the run's queue and any message left in it, so the broker keeps no litter."""
    # Best effort: a broker that is gone by now must not hide the test's own outcome.
    with suppress(Exception), app.connection_for_write() as connection:
        queue = app.amqp.default_queue.bind(connection.default_channel)
        # Kombu's virtual transports (Redis, filesystem) only delete the bindings this
        # channel knows of, so declare them here first.
        queue.declare()
        queue.purge()
        queue.delete()
    # The filesystem transport keeps each exchange's bindings in a file; Celery named this
    # run's exchange after its queue, so the file is the run's own.
    control_folder = app.conf.broker_transport_options.get("control_folder")
    if control_folder:
        (Path(control_folder) / f"{queue_name}.exchange").unlink(missing_ok=True)
