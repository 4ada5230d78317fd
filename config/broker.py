"""kombu's filesystem transport (the demo's broker), with messages that show up whole.

kombu writes a message file in place, under the name a worker looks for, so a worker polling
the folder can take the file before it has been written and fail on an empty message; seen
when several web threads queue jobs at once. Here a message is written under a name the
worker ignores and renamed into place when complete: a rename is atomic.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL = ".part"  # a suffix kombu's consumer never matches


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + PARTIAL, "wb") as partial:
                partial.write(str_to_bytes(dumps(payload)))
            os.replace(path + PARTIAL, path)
        except OSError as error:
            raise filesystem.ChannelError(f"Cannot add file {path!r} to directory") from error


class Transport(filesystem.Transport):
    Channel = Channel
