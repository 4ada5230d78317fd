"""A per-deployment lock that keeps two regroups of one deployment from interleaving.

PostgreSQL: a session-level advisory lock, held across the regroup's many short
transactions and released by the server if the worker dies. SQLite: every process that
can open the database file is on this machine, so an exclusive `flock` on a file beside
it does the same job, and the kernel releases it when the process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

# Namespaces the advisory lock keys, so other features can lock deployments too.
REGROUP_LOCK_NAMESPACE = 71_001


class DeploymentBusy(Exception):
    """Another process holds the lock for this deployment."""


@contextmanager
def deployment_lock(deployment_id: int, namespace: int = REGROUP_LOCK_NAMESPACE) -> Iterator[None]:
    if connection.vendor == "postgresql":
        with _advisory_lock(namespace, deployment_id):
            yield
    else:
        with _file_lock(namespace, deployment_id):
            yield


@contextmanager
def _advisory_lock(namespace: int, key: int) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        if not cursor.fetchone()[0]:
            raise DeploymentBusy(key)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


@contextmanager
def _file_lock(namespace: int, key: int) -> Iterator[None]:
    database = Path(str(connection.settings_dict["NAME"]))
    path = database.with_name(f"{database.name}.lock-{namespace}-{key}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeploymentBusy(key) from None
        yield
    finally:
        os.close(fd)
