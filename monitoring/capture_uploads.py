"""Uploaded capture files, kept through Django's storage API (the `capture_uploads` storage:
a folder under VAR_DIR, or a bucket when workers run on several machines) from the upload
until their job no longer needs them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

from .importing import megabytes

STORAGE = "capture_uploads"


class UploadRefused(Exception):
    """The upload is over a limit; the message says which, for people."""


@dataclass(frozen=True)
class StoredUpload:
    name: str  # in the storage
    size: int
    lines: int


def upload_storage() -> Storage:
    return storages[STORAGE]


def store_upload(file: File, deployment_id: int, *, max_bytes: int, max_rows: int) -> StoredUpload:
    """Keep an uploaded file for its job, after checking what can be checked without
    reading its rows: its size and its number of lines (a header and `max_rows` rows)."""
    if file.size is not None and file.size > max_bytes:
        raise UploadRefused(
            f"The file is {megabytes(file.size)}; at most {megabytes(max_bytes)} can be added "
            "at once. Split it into smaller files."
        )
    lines = count_lines(file.chunks())
    if lines > max_rows + 1:
        raise UploadRefused(
            f"The file has {lines - 1:,} rows; at most {max_rows:,} can be added at once. "
            "Split it into smaller files."
        )
    file.seek(0)
    name = upload_storage().save(f"deployment-{deployment_id}/{uuid.uuid4().hex}.csv", file)
    return StoredUpload(name=name, size=file.size or 0, lines=lines)


def store_text(text: str, deployment_id: int, *, max_rows: int) -> StoredUpload:
    """Keep pasted rows as a file, like an upload."""
    return store_upload(
        ContentFile(text.encode("utf-8"), name="pasted.csv"),
        deployment_id,
        max_bytes=len(text.encode("utf-8")),
        max_rows=max_rows,
    )


def open_upload(name: str) -> BinaryIO:
    return upload_storage().open(name, "rb")


def upload_exists(name: str) -> bool:
    return upload_storage().exists(name)


def delete_upload(name: str) -> None:
    upload_storage().delete(name)


def count_lines(chunks: Iterable[bytes]) -> int:
    """Lines in a file read chunk by chunk; a last line without a line break counts."""
    lines = 0
    last = b"\n"
    for chunk in chunks:
        if chunk:
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
