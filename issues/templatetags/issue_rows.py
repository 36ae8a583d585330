"""Issue rows — the phone card and the desktop table row — written in Python.

A list page shows each of its 20–100 issues twice (a card for phones, a table row for desktops)
and the home pages show cards; as `{% include %}`s and template variables each row cost about
1.5 ms, most of the page. These tags write the same markup once per issue from one set of
values (`RowText`): the dates are localised and formatted once, the badges written once, and
nothing is looked up twice. Profile before adding to them; keep the markup in step with the
CSS in static/css/app.css.

Usage: `{% load issue_rows %}` then `<ul class="issue-list">{% issue_cards issues %}</ul>`, or
for a card and a table row per issue, `{% issue_rows issues as drawn %}` (see `issue_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django import template
from django.utils import formats
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, ngettext

from issues.templatetags.issue_badges import status_badge, timer_light

register = template.Library()

DASH = mark_safe('<span class="muted">—</span>')


@dataclass(frozen=True, slots=True)
class RowText:
    """What a card and a table row say about one issue, escaped and formatted once."""

    url: str
    number: str
    category: str
    district: str
    community: str
    point: str
    organisation: str
    status: SafeString
    light: SafeString
    deadline: SafeString
    reported: SafeString
    badges: SafeString


def _time(value) -> SafeString:
    """A datetime as the templates show it: `<time>` with ISO 8601 and the short format."""
    local = template_localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        local.isoformat(),
        formats.date_format(local, "SHORT_DATETIME_FORMAT"),
    )


def _badges(issue) -> SafeString:
    parts = []
    if issue.rework_count:
        words = ngettext("rework ×%(counter)s", "rework ×%(counter)s", issue.rework_count)
        parts.append(
            format_html(
                '<span class="badge badge-rework">{}</span>',
                words % {"counter": issue.rework_count},
            )
        )
    if issue.escalation_level:
        parts.append(
            format_html(
                '<span class="badge badge-escalated">{}</span>',
                issue.get_escalation_level_display(),
            )
        )
    return mark_safe(" ".join(parts))  # noqa: S308 - each part is format_html


def row_text(issue) -> RowText:
    """The values of one issue's row, in the active language."""
    organisation = issue.assigned_organisation
    return RowText(
        url=escape(issue.get_absolute_url()),
        number=escape(issue.case_number),
        category=escape(issue.category.display_name),
        district=escape(issue.district.display_name),
        community=escape(issue.community.display_name),
        point=escape(issue.point.name) if issue.point_id else "",
        organisation=escape(organisation.display_name) if organisation else "",
        status=status_badge(issue),
        light=timer_light(issue),
        deadline=_time(issue.deadline) if issue.deadline else mark_safe(""),
        reported=_time(issue.reported_at),
        badges=_badges(issue),
    )


def _card(row: RowText, deadline_word: str, reported_word: str) -> str:
    place = row.community + (f" · {row.point}" if row.point else "")
    organisation = f"<span>{row.organisation}</span>" if row.organisation else ""
    deadline = f"<span>{deadline_word} {row.deadline}</span>" if row.deadline else ""
    return (
        f'<li>\n  <a class="issue-item" href="{row.url}">\n'
        f'    <div class="issue-item-head">\n'
        f'      <span class="issue-number">{row.number}</span>\n'
        f"      {row.status}\n      {row.light}\n    </div>\n"
        f'    <div class="issue-title">{row.category}</div>\n'
        f'    <p class="issue-meta">\n      <span>{place}</span>\n      {organisation}\n    </p>\n'
        f'    <p class="issue-meta">\n      {deadline}\n'
        f"      <span>{reported_word} {row.reported}</span>\n      {row.badges}\n    </p>\n"
        f"  </a>\n</li>\n"
    )


def _cards(rows: Iterable[RowText]) -> SafeString:
    deadline_word, reported_word = escape(gettext("Deadline")), escape(gettext("Reported"))
    return mark_safe("".join(_card(row, deadline_word, reported_word) for row in rows))  # noqa: S308


@register.simple_tag
def issue_cards(issues: Iterable) -> SafeString:
    """One tappable card per issue (the `<li>`s of a `ul.issue-list`)."""
    return _cards(row_text(issue) for issue in issues)


def _table_row(row: RowText) -> str:
    point = f'<br><span class="muted small">{row.point}</span>' if row.point else ""
    badges = f" {row.badges}" if row.badges else ""
    return (
        "<tr>\n"
        f'  <td class="nowrap"><a href="{row.url}" class="mono">{row.number}</a></td>\n'
        f"  <td>{row.category}{badges}</td>\n"
        f"  <td>{row.district} · {row.community}{point}</td>\n"
        f"  <td>{row.organisation or DASH}</td>\n"
        f"  <td>{row.status}</td>\n"
        f"  <td>{row.light}</td>\n"
        f'  <td class="nowrap">{row.deadline or DASH}</td>\n'
        f'  <td class="nowrap">{row.reported}</td>\n'
        "</tr>\n"
    )


@dataclass(frozen=True, slots=True)
class DrawnRows:
    cards: SafeString
    table: SafeString


@register.simple_tag
def issue_rows(issues: Iterable) -> DrawnRows:
    """The list's two views of the same issues, from one `RowText` each:
    `{% issue_rows rows as drawn %}` then `{{ drawn.cards }}` in a `ul.issue-list` and
    `{{ drawn.table }}` in the table's `<tbody>`."""
    rows = [row_text(issue) for issue in issues]
    return DrawnRows(
        cards=_cards(rows),
        table=mark_safe("".join(_table_row(row) for row in rows)),  # noqa: S308 - RowText is escaped
    )
