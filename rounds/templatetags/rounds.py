from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """A rate between 0 and 1 as a percentage with one decimal; a dash when there is none."""
    if value is None:
        return "—"
    return f"{number_format(100 * value, 1)} %"


@register.filter
def trend(tally) -> SafeString | str:
    """Better / worse / unchanged against the previous round, as a small badge (no include per
    row: a results table may have many)."""
    if tally.trend == "better":
        return format_html('<span class="trend trend-better">▲ {}</span>', _("better"))
    if tally.trend == "worse":
        return format_html('<span class="trend trend-worse">▼ {}</span>', _("worse"))
    if tally.trend == "same":
        return format_html('<span class="trend">= {}</span>', _("unchanged"))
    return ""
