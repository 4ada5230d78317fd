"""The deployment card's night strip as SVG (templates/partials/night_strip.html)."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from monitoring.capture_nights import NightStrip

register = template.Library()


@register.simple_tag
def night_bars(strip: NightStrip) -> SafeString:
    """Each bar of the strip: a group with its words as title, a rect for grouped captures
    and one above for ungrouped ones, each drawn only if it has height.

    Written in one pass here rather than by a template loop: up to 90 bars of eight values
    each made that loop cost more than the rest of the card. The numbers are plain floats
    (never localized: SVG reads a dot), the label the only text, escaped.
    """
    parts = []
    for bar in strip.bars:
        parts.append(f"<g><title>{escape(bar['label'])}</title>")
        if bar["grouped_height"]:
            parts.append(
                f'<rect class="night-grouped" x="{bar["x"]}" width="0.8" '
                f'y="{bar["grouped_y"]}" height="{bar["grouped_height"]}"></rect>'
            )
        if bar["ungrouped_height"]:
            parts.append(
                f'<rect class="night-ungrouped" x="{bar["x"]}" width="0.8" '
                f'y="{bar["ungrouped_y"]}" height="{bar["ungrouped_height"]}"></rect>'
            )
        parts.append("</g>")
    return mark_safe("".join(parts))  # the label escaped above, the rest numbers
