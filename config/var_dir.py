"""The folders the embedded defaults need (the SQLite file's, the filesystem broker's),
made when a process starts (manage.py, wsgi.py, the Celery app), not when settings are read."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def ensure_var_dirs() -> None:
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for key in BROKER_FOLDERS:
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
