"""Grouped and ungrouped captures night by night, for the deployment page's strip.

Stored on the deployment with its other calculated fields, already cut into at most
MAX_BARS bars (several nights a bar on long deployments), so a page draws it without
counting captures.
"""

from __future__ import annotations

from collections import Counter
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
    bars: list[NightBar] = []
    for offset in range(0, span, per_bar):
        start = first + timedelta(days=offset)
        days = [start + timedelta(days=n) for n in range(min(per_bar, span - offset))]
        bars.append(
            NightBar(
                first=days[0].isoformat(),
                last=days[-1].isoformat(),
                grouped=sum(grouped[day] for day in days),
                ungrouped=sum(ungrouped[day] for day in days),
            )
        )
    return bars


class StripBar(TypedDict):
    """One bar in a 100-high SVG box, one unit wide per bar: grouped captures at the
    bottom, ungrouped ones stacked on top."""

    x: float
    grouped_y: float
    grouped_height: float
    ungrouped_y: float
    ungrouped_height: float
    label: str


def strip_layout(bars: list[NightBar]) -> list[StripBar]:
    """Bar heights for the strip, scaled to the busiest bar (the template draws them)."""
    peak = max((bar["grouped"] + bar["ungrouped"] for bar in bars), default=0) or 1
    layout = []
    for x, bar in enumerate(bars):
        first, last = (_human(bar["first"]), _human(bar["last"]))
        nights = first if first == last else f"{first} – {last}"
        grouped = round(100 * bar["grouped"] / peak, 2)
        ungrouped = round(100 * bar["ungrouped"] / peak, 2)
        layout.append(
            StripBar(
                x=x + 0.1,
                grouped_y=round(100 - grouped, 2),
                grouped_height=grouped,
                ungrouped_y=round(100 - grouped - ungrouped, 2),
                ungrouped_height=ungrouped,
                label=f"{nights}: {bar['grouped']:,} grouped, {bar['ungrouped']:,} not grouped",
            )
        )
    return layout


def strip_span(bars: list[NightBar]) -> tuple[date, date] | None:
    """The first and last night the strip covers."""
    if not bars:
        return None
    return date.fromisoformat(bars[0]["first"]), date.fromisoformat(bars[-1]["last"])


def _human(iso_date: str) -> str:
    day = date.fromisoformat(iso_date)
    return f"{day.day} {day:%b %Y}"
