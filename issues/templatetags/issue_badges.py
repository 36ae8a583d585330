"""Badges every issue row shows, written in Python.

`{% include %}` in a loop costs a template lookup, a context push and a render per row; the
list's twenty rows include these two badges twice each (card and table). The tags write the
same markup as `includes/status_badge.html` and `includes/timer_light.html`.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()

_LIGHT_WORDS = {"green": "on time", "yellow": "due soon"}


@register.simple_tag
def status_badge(issue) -> SafeString:
    return format_html(
        '<span class="badge status-{}">{}</span>', issue.status, issue.get_status_display()
    )


@register.simple_tag
def timer_light(issue) -> SafeString:
    """The timer light badge, or nothing when no clock runs."""
    light = issue.timer_light()
    if not light:
        return mark_safe("")
    return format_html(
        '<span class="badge light-{}" title="{}"><span class="dot" aria-hidden="true"></span>'
        "{}</span>",
        light,
        gettext("Timer light: share of the allowed time used"),
        gettext(_LIGHT_WORDS.get(light, "overdue")),
    )
