"""What list rows show, worked out once per row in Python.

A list page draws 25 to 50 rows, and per cell the template filters cost more than the
rest of the page: Django's `date` filter parses its format and asks for the language
and time zone again for every value, `{% url %}` runs a whole reverse() for every link,
and `floatformat` and `intcomma` each look the locale up again. These helpers give the
same text, with the lookups made once per page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.timesince import timesince

# Stands for the id in the one reverse() of id_urls: a number no row's id will reach, so
# it is found only where the id goes.
_ID_MARK = 9_876_543_210_123


def id_urls(route: str, *args: object) -> Callable[[int], str]:
    """The URLs of `route` for many ids, from one reverse(): `url = id_urls("session-detail",
    project.pk)`, then `url(session_id)`. The id is the route's last argument."""
    before, _, after = reverse(route, args=[*args, _ID_MARK]).rpartition(str(_ID_MARK))
    return lambda pk: f"{before}{pk}{after}"


class DateTexts:
    """Dates as the `date` filter writes them, in the active language and time zone, for
    the formats our lists use; the month and weekday names are translated once."""

    def __init__(self) -> None:
        self._zone = timezone.get_current_timezone()
        self._weekdays = [str(WEEKDAYS_ABBR[day]) for day in range(7)]
        self._months = ["", *(str(MONTHS_3[month]).title() for month in range(1, 13))]

    def _local(self, value: datetime) -> datetime:
        # As the filter does: an aware datetime is shown in the current time zone.
        return value.astimezone(self._zone) if timezone.is_aware(value) else value

    def day_time(self, value: datetime) -> str:
        """`value|date:"j M Y, H:i"`: 4 Jun 2024, 21:30."""
        return self._day_time(self._local(value))

    def weekday_day_time(self, value: datetime) -> str:
        """`value|date:"D j M Y, H:i"`: Tue 4 Jun 2024, 21:30."""
        local = self._local(value)
        return f"{self._weekdays[local.weekday()]} {self._day_time(local)}"

    def _day_time(self, local: datetime) -> str:
        return (
            f"{local.day} {self._months[local.month]} {local.year:04d}, "
            f"{local.hour:02d}:{local.minute:02d}"
        )


# Below this, `timesince` counts no calendar month, so its text depends on the length alone.
_NO_MONTHS = timedelta(days=28)


class DurationTexts:
    """Lengths as `start|timesince:end` writes them ("7 hours, 55 minutes"), each distinct
    length written once: a page's sessions mostly share a few, and `timesince` translates
    and formats its parts on every call."""

    def __init__(self) -> None:
        self._by_minutes: dict[int, str] = {}

    def between(self, start: datetime, end: datetime) -> str:
        length = end - start
        if not timedelta(0) <= length < _NO_MONTHS:
            return timesince(start, end)
        # Whole minutes are all the text shows of a length under 28 days.
        minutes = int(length.total_seconds()) // 60
        text = self._by_minutes.get(minutes)
        if text is None:
            text = self._by_minutes[minutes] = timesince(start, end)
        return text


def two_decimals(number: float) -> str:
    """`number|floatformat:2` for a number under 1,000 (no thousands separator): rounded
    half up from its shortest decimal form, as the filter rounds, never "-0.00"."""
    rounded = Decimal(repr(number)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return str(rounded if rounded else abs(rounded))
