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

import datetime
import html
from collections.abc import Iterable
from dataclasses import dataclass, field

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.dateformat import DateFormat, re_escaped, re_formatchars
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from issues.models import EscalationLevel, Status
from issues.templatetags.issue_badges import LIGHT_WORDS

register = template.Library()

DASH = mark_safe('<span class="muted">—</span>')
# Any id: the detail URL is reversed once per call with it and the real id written in.
_URL_ID = 987654321


def escape(text: object) -> str:
    """The text of `django.utils.html.escape(text)`, without the check its `keep_lazy` makes of
    every argument for a lazy string (ten calls a row)."""
    return html.escape(str(text))


def date_pieces(format_string: str) -> tuple[tuple[bool, str], ...]:
    """A date format split once, as `dateformat.format` splits it on every call (most of its
    cost): (True, a DateFormat method) or (False, literal text)."""
    return tuple(
        (True, piece) if index % 2 else (False, re_escaped.sub(r"\1", piece))
        for index, piece in enumerate(re_formatchars.split(format_string))
        if piece
    )


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
    status: str
    light: str
    deadline: str
    reported: str
    badges: str


@dataclass(slots=True)
class Words:
    """Everything the rows share, in the active language and time zone, looked up once per
    call rather than once per row: labels, badge words, the date format, the URL pattern."""

    english: bool = False
    url: str = ""
    status: dict[str, str] = field(default_factory=dict)
    escalation: dict[int, str] = field(default_factory=dict)
    light: dict[str, str] = field(default_factory=dict)
    date_format: tuple[tuple[bool, str], ...] = ()
    zone: datetime.tzinfo | None = None
    rework: dict[int, str] = field(default_factory=dict)

    @classmethod
    def now(cls) -> Words:
        language = translation.get_language() or settings.LANGUAGE_CODE
        title = escape(gettext("Timer light: share of the allowed time used"))
        return cls(
            english=language.startswith("en"),
            url=reverse("issues:issue_detail", kwargs={"pk": _URL_ID}),
            status={value: escape(label) for value, label in Status.choices},
            escalation={value: escape(label) for value, label in EscalationLevel.choices},
            light={
                light: f'<span class="badge light-{light}" title="{title}"><span class="dot" '
                f'aria-hidden="true"></span>{escape(gettext(words))}</span>'
                for light, words in LIGHT_WORDS.items()
            },
            date_format=date_pieces(str(formats.get_format("SHORT_DATETIME_FORMAT"))),
            zone=timezone.get_current_timezone(),
        )

    def name(self, place) -> str:
        # As BilingualNameMixin.display_name, with the language read once.
        return escape(place.name_en if self.english and place.name_en else place.name)

    def time(self, value: datetime.datetime) -> str:
        """`<time>` with ISO 8601 and the short format, in the current time zone."""
        local = value.astimezone(self.zone)
        # As dateformat.format(local, SHORT_DATETIME_FORMAT), with the format split once.
        formatter = DateFormat(local)
        shown = escape(
            "".join(
                str(getattr(formatter, piece)()) if is_method else piece
                for is_method, piece in self.date_format
            )
        )
        return f'<time datetime="{local.isoformat()}">{shown}</time>'

    def badges(self, issue) -> str:
        parts = []
        if issue.rework_count:
            words = self.rework.get(issue.rework_count)
            if words is None:
                words = self.rework[issue.rework_count] = escape(
                    ngettext("rework ×%(counter)s", "rework ×%(counter)s", issue.rework_count)
                    % {"counter": issue.rework_count}
                )
            parts.append(f'<span class="badge badge-rework">{words}</span>')
        if issue.escalation_level:
            parts.append(
                '<span class="badge badge-escalated">'
                f"{self.escalation[issue.escalation_level]}</span>"
            )
        return " ".join(parts)


def row_text(issue, words: Words) -> RowText:
    """The values of one issue's row."""
    organisation = issue.assigned_organisation
    light = issue.timer_light()
    return RowText(
        url=escape(words.url.replace(str(_URL_ID), str(issue.pk))),
        number=escape(issue.case_number),
        category=words.name(issue.category),
        district=words.name(issue.district),
        community=words.name(issue.community),
        point=escape(issue.point.name) if issue.point_id else "",
        organisation=words.name(organisation) if organisation else "",
        status=f'<span class="badge status-{escape(issue.status)}">'
        f"{words.status.get(issue.status) or escape(issue.status)}</span>",
        light=words.light[light] if light else "",
        deadline=words.time(issue.deadline) if issue.deadline else "",
        reported=words.time(issue.reported_at),
        badges=words.badges(issue),
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
    words = Words.now()
    return _cards(row_text(issue, words) for issue in issues)


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
    words = Words.now()
    rows = [row_text(issue, words) for issue in issues]
    return DrawnRows(
        cards=_cards(rows),
        table=mark_safe("".join(_table_row(row) for row in rows)),  # noqa: S308 - RowText is escaped
    )
