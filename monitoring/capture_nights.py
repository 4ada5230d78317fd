"""Grouped and ungrouped captures night by night, for the deployment page's strip.

Stored on the deployment with its other calculated fields, already cut into at most
MAX_BARS bars (several nights a bar on long deployments), so a page draws it without
counting captures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, F
from django.db.models.functions import TruncDate

if TYPE_CHECKING:
    from .models import Deployment

MAX_BARS = 90
# A night's captures straddle midnight: shifting by 12 hours puts a whole night on the
# date it began.
NIGHT_SHIFT = timedelta(hours=12)


class NightBar(TypedDict):
    first: str  # ISO date of the bar's first night
    last: str
    grouped: int
    ungrouped: int


def night_of(moment) -> date:
    return (moment - NIGHT_SHIFT).date()


def count_capture_nights(deployment: Deployment) -> list[NightBar]:
    """Bars of grouped and ungrouped captures from the first night to the last.

    Grouped captures come from the sessions' stored counts (a session lies within one
    night); ungrouped ones from the small index of captures without a session. Call it
    after the deployment's source_images_without_event_count is refreshed.
    """
    from .models import Event, SourceImage

    grouped: Counter[date] = Counter()
    for start, captures in Event.objects.filter(deployment=deployment).values_list(
        "start", "captures_count"
    ):
        grouped[night_of(start)] += captures
    ungrouped: Counter[date] = Counter()
    # The deployment's fresh count says whether there is anything to look for: after a
    # regroup there is not, and the planner may not know it yet.
    if deployment.source_images_without_event_count:
        ungrouped.update(
            dict(
                SourceImage.objects.filter(
                    deployment=deployment, event__isnull=True, timestamp__isnull=False
                )
                .values_list(TruncDate(F("timestamp") - NIGHT_SHIFT))
                .annotate(n=Count("pk"))
                .order_by()
            )
        )
    nights = [night for night in (grouped | ungrouped) if grouped[night] or ungrouped[night]]
    if not nights:
        return []
    first, last = min(nights), max(nights)
    span = (last - first).days + 1
    per_bar = -(-span // MAX_BARS)
    # Each night goes straight into its bar: the work follows the nights with captures, not
    # the days between the first and the last (millennia, for a clock set to year 1).
    totals = [[0, 0] for _ in range(-(-span // per_bar))]
    for night in nights:
        bar = totals[(night - first).days // per_bar]
        bar[0] += grouped[night]
        bar[1] += ungrouped[night]
    bars: list[NightBar] = []
    for index, (grouped_total, ungrouped_total) in enumerate(totals):
        start = first + timedelta(days=index * per_bar)
        end = first + timedelta(days=min((index + 1) * per_bar, span) - 1)
        bars.append(
            NightBar(
                first=start.isoformat(),
                last=end.isoformat(),
                grouped=grouped_total,
                ungrouped=ungrouped_total,
            )
        )
    return bars


# Of the strip's 100 units of height: a night with any captures gets at least this much
# of a bar (4.5 px on the 3.5rem strip), so 1 ungrouped capture beside nights of
# thousands is still there to see.
MIN_BAR = 8
# Date labels under the strip: month starts, thinned to at most this many.
MAX_TICKS = 5


class StripBar(TypedDict):
    """One bar in a 100-high SVG box, one unit wide per bar: grouped captures at the
    bottom, ungrouped ones stacked on top; with its numbers, for the table under it."""

    x: float
    grouped_y: float
    grouped_height: float
    ungrouped_y: float
    ungrouped_height: float
    label: str
    nights: str  # "4 Jun 2024", or "4 Jun 2024 – 7 Jun 2024" for a bar of several nights
    captures: int
    ungrouped: int
    # The two numbers as the table writes them (1,234), like the label: formatted here once
    # rather than by a filter per cell of a table of up to 90 rows.
    captures_text: str
    ungrouped_text: str


class StripTick(TypedDict):
    """A date under the strip, at `position` percent of its width, its text anchored at
    its start, centre or end so that labels at the edges stay inside the strip."""

    label: str
    position: float
    align: str


@dataclass
class NightStrip:
    """Everything the deployment card's strip draws, from the stored bars."""

    bars: list[StripBar]
    ticks: list[StripTick]
    first: date
    last: date
    # Nights per bar on long deployments (1 otherwise): the table under the strip says so.
    nights_per_bar: int
    # Bars with ungrouped captures: the rows of that table.
    ungrouped_bars: list[StripBar] = field(default_factory=list)


def night_strip(bars: list[NightBar]) -> NightStrip | None:
    """The strip of a deployment's stored bars (`Deployment.capture_nights`), if any."""
    if not bars:
        return None
    layout = strip_layout(bars)
    first = date.fromisoformat(bars[0]["first"])
    return NightStrip(
        bars=layout,
        ticks=strip_ticks(bars),
        first=first,
        last=date.fromisoformat(bars[-1]["last"]),
        nights_per_bar=(date.fromisoformat(bars[0]["last"]) - first).days + 1,
        ungrouped_bars=[bar for bar in layout if bar["ungrouped"]],
    )


def strip_layout(bars: list[NightBar]) -> list[StripBar]:
    """Bar heights for the strip, scaled to the busiest bar (the template draws them)."""
    peak = max((bar["grouped"] + bar["ungrouped"] for bar in bars), default=0) or 1
    layout = []
    for x, bar in enumerate(bars):
        first, last = (_human(bar["first"]), _human(bar["last"]))
        nights = first if first == last else f"{first} – {last}"
        ungrouped = _height(bar["ungrouped"], peak)
        grouped = min(_height(bar["grouped"], peak), round(100 - ungrouped, 2))
        captures = bar["grouped"] + bar["ungrouped"]
        layout.append(
            StripBar(
                x=x + 0.1,
                grouped_y=round(100 - grouped, 2),
                grouped_height=grouped,
                ungrouped_y=round(100 - grouped - ungrouped, 2),
                ungrouped_height=ungrouped,
                label=f"{nights}: {bar['grouped']:,} grouped, {bar['ungrouped']:,} not grouped",
                nights=nights,
                captures=captures,
                ungrouped=bar["ungrouped"],
                captures_text=f"{captures:,}",
                ungrouped_text=f"{bar['ungrouped']:,}",
            )
        )
    return layout


def strip_ticks(bars: list[NightBar]) -> list[StripTick]:
    """A few dates to read the strip by: the months it crosses (the year shown on the
    first and on each January), or, when it crosses fewer than two month starts, its
    first and last night."""
    if not bars:
        return []
    count = len(bars)
    months: list[tuple[int, date]] = []
    for index, bar in enumerate(bars):
        first, last = date.fromisoformat(bar["first"]), date.fromisoformat(bar["last"])
        month_start = first if first.day == 1 else _next_month(first)
        if month_start <= last:
            months.append((index, month_start))
    if len(months) < 2:
        first_night, last_night = _human(bars[0]["first"]), _human(bars[-1]["last"])
        ticks = [StripTick(label=first_night, position=0, align="start")]
        if last_night != first_night:
            ticks.append(StripTick(label=last_night, position=100, align="end"))
        return ticks
    step = -(-len(months) // MAX_TICKS)
    ticks = []
    for number, (index, month) in enumerate(months[::step]):
        position = round((index + 0.5) * 100 / count, 2)
        label = f"{month:%b %Y}" if number == 0 or month.month == 1 else f"{month:%b}"
        align = "start" if position < 10 else "end" if position > 90 else "center"
        ticks.append(StripTick(label=label, position=position, align=align))
    return ticks


def _height(captures: int, peak: int) -> float:
    if not captures:
        return 0
    return max(MIN_BAR, round(100 * captures / peak, 2))


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# What `%b` writes in the C locale the site runs in, looked up: a strftime for each of a
# strip's 180 dates was half the time of laying it out, on every view of the page.
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _human(iso_date: str) -> str:
    day = date.fromisoformat(iso_date)
    return f"{day.day} {_MONTHS[day.month]} {day.year}"
