from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """A rate between 0 and 1 as a percentage with one decimal; a dash when there is none."""
    if value is None:
        return "—"
    return f"{number_format(100 * value, 1)} %"
