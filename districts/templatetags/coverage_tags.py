"""Template tags for the Django admin home page's coverage warning."""

from __future__ import annotations

from django import template

from districts.coverage import coverage_gap_count

register = template.Library()


@register.simple_tag
def coverage_gaps() -> int:
    """The number of coverage gaps today (a handful of COUNT queries)."""
    return coverage_gap_count()
