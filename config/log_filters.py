"""Filters for the logging configuration in settings."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Log a 4xx answer (a 404, a permission refused) as its one line, without a traceback.

    Django logs the exception behind an expected refusal with its traceback; those are
    normal answers to a client, not faults. 5xx answers keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
