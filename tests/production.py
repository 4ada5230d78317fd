"""The production setup as the README documents it, for tests that run it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def production_environment() -> dict[str, str]:
    """This process's environment with the documented production one on top
    (production.env.example) and a fresh secret key, for a process started from a test."""
    # The browser tests allow the ORM in async contexts; production must not.
    environment = {
        name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    for line in (BASE_DIR / "production.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            environment[name.strip()] = value.strip()
    environment["SECRET_KEY"] = secrets.token_urlsafe(50)
    return environment


def procfile_command(process: str) -> str:
    """The shell command the Procfile gives for `process` (web, worker, release…)."""
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise KeyError(f"The Procfile has no {process!r} process.")
