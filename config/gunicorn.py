"""gunicorn's settings for the Procfile's web process, read from the environment.

WEB_CONCURRENCY worker processes (default: one per CPU this process may use), each serving
WEB_THREADS requests at once on threads (default 4). A request mostly waits on PostgreSQL,
so threads keep a CPU busy while others wait; processes use the other CPUs. Threads keep
their database connection between requests (CONN_MAX_AGE), so a process holds up to
WEB_THREADS connections. bench/polling.py measured this default against the old single
sync worker; see bench/results.md.
"""

import os


def _cpus() -> int:
    # The CPUs this process may run on (a container's share), not all the machine's.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


workers = int(os.environ.get("WEB_CONCURRENCY") or _cpus())
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# Longer than the slowest poll (5 s): a browser following a job keeps its connection
# instead of opening one a poll, and never races the server closing it.
keepalive = 10
accesslog = "-"
