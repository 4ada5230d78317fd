"""Row texts formatted in Python (views.display, the night strip's bars) read exactly as
the template filters and loops they replace."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import engines
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timesince

from monitoring.capture_nights import NightBar, night_strip
from views.display import DateTexts, DurationTexts, id_urls, two_decimals


def moments() -> list[datetime]:
    # Every month and weekday, both digits of days and hours, and a time zone's changes.
    start = datetime(2023, 12, 31, 22, 59, tzinfo=UTC)
    return [start + timedelta(days=day, hours=day * 7, minutes=day * 13) for day in range(400)]


def by_filter(moments: list[datetime], date_format: str) -> list[str]:
    """What `{{ moment|date:date_format }}` shows in a template (which first puts an aware
    moment in the current time zone), for each moment."""
    template = engines["django"].from_string(
        "{% for moment in moments %}{{ moment|date:date_format }}|{% endfor %}"
    )
    return template.render({"moments": moments, "date_format": date_format}).split("|")[:-1]


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/Santiago"])
def test_dates_read_as_the_date_filter_writes_them(zone):
    with timezone.override(ZoneInfo(zone)):
        dates = DateTexts()
        assert [dates.day_time(m) for m in moments()] == by_filter(moments(), "j M Y, H:i")
        assert [dates.weekday_day_time(m) for m in moments()] == by_filter(
            moments(), "D j M Y, H:i"
        )


def test_dates_use_the_active_language():
    moment = datetime(2024, 5, 7, 21, 5, tzinfo=UTC)
    with translation.override("de"):
        assert DateTexts().weekday_day_time(moment) == by_filter([moment], "D j M Y, H:i")[0]


def test_naive_dates_are_shown_as_they_are():
    moment = datetime(2024, 6, 4, 21, 30)
    assert DateTexts().weekday_day_time(moment) == "Tue 4 Jun 2024, 21:30"


def test_durations_read_as_timesince_writes_them():
    start = datetime(2024, 1, 30, 21, 4, 59, 999_999, tzinfo=UTC)
    edges = [timedelta(0), timedelta(seconds=59), timedelta(minutes=1), timedelta(hours=1)]
    edges += [timedelta(days=days) - timedelta(microseconds=1) for days in (1, 7, 28, 29, 31)]
    edges += [timedelta(days=days) for days in (1, 7, 27, 28, 29, 31, 400)]
    edges += [timedelta(minutes=minutes) for minutes in range(0, 60 * 24 * 30, 37)]
    edges += [timedelta(minutes=-5)]
    for language in ("en", "de"):
        with translation.override(language):
            durations = DurationTexts()
            for offset in (timedelta(0), timedelta(days=1, hours=2)):
                first = start + offset
                for length in edges:
                    end = first + length
                    assert durations.between(first, end) == timesince(first, end), length


def test_scores_read_as_floatformat_2_writes_them():
    numbers = [0, 0.005, 0.015, 0.125, 0.994, 0.995, 0.999, 1, -0.001, -0.25, 12.345]
    numbers += [random.Random(7).random() for _ in range(500)]
    for number in numbers:
        assert two_decimals(number) == floatformat(number, 2), number


def test_id_urls_give_what_reverse_gives():
    session_url = id_urls("session-detail", 12)
    for pk in (1, 9, 10, 12, 120, 1_234_567):
        assert session_url(pk) == reverse("session-detail", args=[12, pk])


# The strip's bars as the template loop drew them, before the night_bars tag replaced it.
LOOP = """{% load l10n %}{% localize off %}{% for bar in strip.bars %}
  <g><title>{{ bar.label }}</title>
    {% if bar.grouped_height %}<rect class="night-grouped" x="{{ bar.x }}" width="0.8" y="{{ bar.grouped_y }}" height="{{ bar.grouped_height }}"></rect>{% endif %}
    {% if bar.ungrouped_height %}<rect class="night-ungrouped" x="{{ bar.x }}" width="0.8" y="{{ bar.ungrouped_y }}" height="{{ bar.ungrouped_height }}"></rect>{% endif %}
  </g>
{% endfor %}{% endlocalize %}"""  # noqa: E501


def test_night_bars_draw_what_the_template_loop_drew():
    bars = [
        NightBar(first=f"2024-06-{day:02d}", last=f"2024-06-{day:02d}", grouped=g, ungrouped=u)
        for day, (g, u) in enumerate([(4_800, 0), (479, 1), (0, 0), (0, 30), (1_234, 5_678)], 1)
    ]
    bars[0]["first"] = "2024-06-01"  # a label with a character to escape is below
    strip = night_strip(bars)
    strip.bars[1]["label"] = "<b>2 Jun & more</b>"
    django = engines["django"]
    by_loop = django.from_string(LOOP).render({"strip": strip})
    by_tag = django.from_string("{% load night_strip %}{% night_bars strip %}").render(
        {"strip": strip}
    )

    def squeezed(html: str) -> str:
        return re.sub(r">\s+<", "><", html).strip()

    assert squeezed(by_tag) == squeezed(by_loop)
    assert "&lt;b&gt;2 Jun &amp; more&lt;/b&gt;" in by_tag
