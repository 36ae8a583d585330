"""Small fragments pages repeat, written in Python: status and timer badges, photo thumbnails,
the report form's category tiles and quick phrases, and the helpers the queue tags share
(`per_page`, `page_url`, `time_element`).

`{% include %}` in a loop costs a template lookup, a context push and a render per item; each
tag writes the markup the include it replaced wrote (`includes/status_badge.html` is still
the timeline's).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, gettext_noop

from civicapp.frames import Drawn
from civicapp.renderers import escaped, per_page
from issues.models import Photo

register = template.Library()

# Never an id: marks where the id goes in a URL reversed once a page (`page_url`).
_ID_STANDIN = 2**62


def page_url(context: template.Context, name: str, pk: int, *rest: Any) -> str:
    """`reverse(name, args=[pk, *rest])`, with the URL reversed once a page (a reverse costs
    as much as the rest of a photo thumbnail; a queue shows hundreds of links)."""
    parts = per_page(
        context,
        ("url", name, rest),
        lambda: reverse(name, args=[_ID_STANDIN, *rest]).split(str(_ID_STANDIN)),
    )
    return str(pk).join(parts)


def time_element(value: Any, css_class: str = "") -> str:
    """`<time datetime="{{ value|date:'c' }}">{{ value|date:"m-d H:i" }}</time>`, in the
    current time zone: the short time queues and thumbnails show (both formats are the same in
    every language, so no date filter is needed)."""
    at = template_localtime(value)
    class_attr = f' class="{css_class}"' if css_class else ""
    return f'<time{class_attr} datetime="{at.isoformat()}">{at.strftime("%m-%d %H:%M")}</time>'


# Translated where they are shown (`gettext(word)`); marked here so makemessages finds them.
LIGHT_WORDS = {
    "green": gettext_noop("on time"),
    "yellow": gettext_noop("due soon"),
    "red": gettext_noop("overdue"),
}


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
        gettext(LIGHT_WORDS[light]),
    )


@register.simple_tag(takes_context=True)
def photo_thumb(context: template.Context, photo, number: int) -> SafeString:
    """A photo's thumbnail linking to the photo, as `issues/includes/photo_thumb.html`: queues
    show a hundred of them, and an include each cost more than the rest of the row."""
    caption = ""
    if photo.taken_at:
        gps = " · GPS" if photo.gps_latitude is not None else ""
        caption = mark_safe(  # noqa: S308 - a time element and a constant
            f'<span class="thumb-caption">{time_element(photo.taken_at)}{gps}</span>'
        )
    kinds = per_page(context, "photo kinds", lambda: {k: str(v) for k, v in Photo.Kind.choices})
    alt = gettext("%(kind)s photo %(number)s") % {
        "kind": kinds.get(photo.kind, photo.kind),
        "number": number,
    }
    return mark_safe(  # noqa: S308 - the URLs are our own, the alt text is escaped
        f'<a class="thumb" href="{page_url(context, "issues:photo", photo.pk)}" '
        'target="_blank" rel="noopener">\n'
        f'  <img src="{page_url(context, "issues:photo_thumb", photo.pk)}" alt="{escaped(alt)}" '
        f'loading="lazy" width="160" height="120">\n  {caption}\n</a>\n'
    )


# The report form's tiles and phrase chips, drawn once per category as it reads (`Drawn`).
TILES: Drawn[tuple[str, str]] = Drawn()
PHRASES: Drawn[SafeString] = Drawn()


@register.simple_tag
def category_tile(category, selected: str | None) -> SafeString:
    """One category of the report form as a big radio tile: the form shows every category of
    the zone, and an include each cost more than the rest of the form; drawn once per
    category as it reads, then only `checked` differs."""
    urgent = category.is_urgent
    key = (category.pk, category.severity, urgent, category.display_name)
    before, after = TILES.get(key, lambda: _tile(category))
    checked = " checked" if selected == str(category.pk) else ""
    return mark_safe(f"{before}{checked}{after}")  # noqa: S308 - _tile escaped the parts


def _tile(category) -> tuple[str, str]:
    urgent = category.is_urgent
    before = format_html(
        '<label class="tile{}">\n  <input type="radio" name="category" value="{}" '
        'data-severity="{}"',
        " tile-urgent" if urgent else "",
        category.pk,
        category.severity,
    )
    after = format_html(
        '>\n  <span class="tile-name">{}</span>\n  {}\n</label>',
        category.display_name,
        format_html('<span class="tile-flag">{}</span>', gettext("urgent")) if urgent else "",
    )
    return str(before), str(after)


@register.simple_tag
def quick_phrases(category) -> SafeString:
    """A category's quick phrases as chips (hidden until the category is chosen), or nothing."""
    phrases = category.quick_phrase_list
    if not phrases:
        return mark_safe("")
    return PHRASES.get((category.pk, tuple(phrases)), lambda: _phrases(category.pk, phrases))


def _phrases(pk: int, phrases: list[str]) -> SafeString:
    chips = format_html_join(
        "",
        '<button type="button" class="chip" data-phrase="{}">{}</button>',
        ((p, p) for p in phrases),
    )
    return format_html(
        '<div class="quick-phrases" data-category="{}" hidden>\n'
        '  <p class="help">{}</p>\n  <div class="chips">\n    {}\n  </div>\n</div>',
        pk,
        gettext("Tap a phrase to add it:"),
        chips,
    )
