"""Badges every issue row shows, written in Python.

`{% include %}` in a loop costs a template lookup, a context push and a render per row; the
list's twenty rows include these two badges twice each (card and table). The tags write the
same markup as `includes/status_badge.html` and `includes/timer_light.html`.
"""

from __future__ import annotations

from django import template
from django.template import defaultfilters
from django.urls import reverse
from django.utils.html import format_html, format_html_join
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


@register.simple_tag
def category_tile(category, selected: str | None) -> SafeString:
    """One category of the report form as a big radio tile, as `category_tile.html` wrote it:
    the form shows every category of the zone, an include each cost more than the rest."""
    urgent = category.is_urgent
    return format_html(
        '<label class="tile{}">\n  <input type="radio" name="category" value="{}" '
        'data-severity="{}"{}>\n  <span class="tile-name">{}</span>\n  {}\n</label>',
        " tile-urgent" if urgent else "",
        category.pk,
        category.severity,
        mark_safe(" checked") if selected == str(category.pk) else "",
        category.display_name,
        format_html('<span class="tile-flag">{}</span>', gettext("urgent")) if urgent else "",
    )


@register.simple_tag
def quick_phrases(category) -> SafeString:
    """A category's quick phrases as chips (hidden until the category is chosen), or nothing."""
    phrases = category.quick_phrase_list
    if not phrases:
        return mark_safe("")
    chips = format_html_join(
        "",
        '<button type="button" class="chip" data-phrase="{}">{}</button>',
        ((p, p) for p in phrases),
    )
    return format_html(
        '<div class="quick-phrases" data-category="{}" hidden>\n'
        '  <p class="help">{}</p>\n  <div class="chips">\n    {}\n  </div>\n</div>',
        category.pk,
        gettext("Tap a phrase to add it:"),
        chips,
    )
