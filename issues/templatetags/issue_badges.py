"""Badges every issue row shows, written in Python.

`{% include %}` in a loop costs a template lookup, a context push and a render per row; the
list's twenty rows include these two badges twice each (card and table). The tags write the
same markup as `includes/status_badge.html` and `includes/timer_light.html`.
"""

from __future__ import annotations

from django import template
from django.template import defaultfilters
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
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


@register.simple_tag
def photo_thumb(photo, number: int) -> SafeString:
    """A photo's thumbnail linking to the photo, as `issues/includes/photo_thumb.html`: queues
    show a hundred of them, and an include each cost more than the rest of the row."""
    caption = ""
    if photo.taken_at:
        # In the current time zone, as a template shows a datetime.
        taken = template_localtime(photo.taken_at)
        gps = " · GPS" if photo.gps_latitude is not None else ""
        caption = format_html(
            '<span class="thumb-caption"><time datetime="{}">{}</time>{}</span>',
            defaultfilters.date(taken, "c"),
            defaultfilters.date(taken, "m-d H:i"),
            gps,
        )
    alt = gettext("%(kind)s photo %(number)s") % {
        "kind": photo.get_kind_display(),
        "number": number,
    }
    return format_html(
        '<a class="thumb" href="{}" target="_blank" rel="noopener">\n'
        '  <img src="{}" alt="{}" loading="lazy" width="160" height="120">\n  {}\n</a>\n',
        reverse("issues:photo", args=[photo.pk]),
        reverse("issues:photo_thumb", args=[photo.pk]),
        alt,
        caption,
    )
