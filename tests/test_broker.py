"""The demo's filesystem broker hands a worker only whole messages."""

from __future__ import annotations

from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from config import broker


@pytest.fixture
def channel(tmp_path: Path):
    queue = tmp_path / "queue"
    queue.mkdir()
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue)}
    with Connection(
        "filesystem://localhost//", transport=broker.Transport, transport_options=options
    ) as connection:
        yield connection.default_channel


def test_a_worker_polling_while_a_message_is_written_does_not_get_it_half_written(
    channel, monkeypatch
) -> None:
    real_dumps = broker.dumps
    seen_while_writing = []

    def dumps_while_a_worker_polls(payload: object) -> str:
        # Between creating the message's file and writing it: kombu's own transport has the
        # file under its final name here, empty, and a worker takes it and fails.
        try:
            seen_while_writing.append(channel._get("jobs"))
        except Empty:
            seen_while_writing.append(None)
        return real_dumps(payload)

    monkeypatch.setattr(broker, "dumps", dumps_while_a_worker_polls)
    monkeypatch.setattr(filesystem, "dumps", dumps_while_a_worker_polls)
    channel._put("jobs", {"job": 42})

    assert seen_while_writing == [None]
    assert channel._get("jobs") == {"job": 42}
