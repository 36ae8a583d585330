"""Template tags for the Django admin home page's coverage warning."""

from __future__ import annotations

from typing import Any

from django import template

from districts.coverage import coverage_gap_count
from districts.policy import is_zone_admin

register = template.Library()


@register.simple_tag
def coverage_gaps(user: Any) -> int:
    """The number of coverage gaps today, for admins (others cannot open the coverage page)."""
    if not is_zone_admin(user):
        return 0
    return coverage_gap_count()
