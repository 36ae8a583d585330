"""The responsibility matrix's cells and rows, written in Python: `{% matrix_cell cell %}`,
`{% matrix_community_rows matrix %}`, `{% matrix_point_rows row %}`, `{% matrix_sector_rows
matrix %}`.

A district's matrix shows a hundred-odd cells, each with its owners and a small edit form. Drawn
with an include each (`districts/includes/matrix_cell.html`, as it was), the cells cost nine
tenths of the page (`benchmark_pages --profile matrix`: 3 250 variable lookups, 245 `reverse()`
and 800 `{% translate %}` a request). This tag writes the same markup: what every cell of a
page repeats (the URLs' shapes, the labels, the form's fixed parts) is made once per page
(`per_page`), and each cell adds only its own anchor, query, owners and dates. The page's rows
(a community, a point, a sector category: a name, a code, labels and two cells) are written
here too: as template loops with `{% translate %}` in each row, they cost three times the cells.

The context gives `district` (whose URLs the cells post to) and the CSRF token. The matrix page
draws its cells without a form; the cell page passes the form and `open_form`; the htmx swap
passes the form (bound, with its errors, after a POST) or, after a save, `saved_message`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django import template
from django.forms import BaseForm
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from civicapp.renderers import csrf_input, escaped, per_page
from districts.matrix import Cell, CommunityRow, Matrix
from districts.models import District

register = template.Library()


@dataclass(frozen=True)
class _Words:
    """What every cell of a page writes the same, escaped, in the page's language."""

    history_base: str
    cell_base: str
    picker_url: str
    csrf_input: str
    today: str
    since: str
    until: str
    inherited: str
    scheduled: str
    nobody: str
    history: str
    change: str
    organisation: str
    lead_person: str
    lead_phone: str
    valid_from: str
    correction_reason: str
    correction_help: str
    assign: str
    territorial: str
    paired: str
    point_type: str
    inactive: str
    zone_wide: str
    in_district: str
    no_communities: str
    no_points: str
    no_sectors: str


def _words(context: template.Context, district: District) -> _Words:
    district_pk = district.pk
    return _Words(
        history_base=escaped(reverse("districts:cell_history", args=[district_pk])),
        cell_base=escaped(reverse("districts:matrix_cell", args=[district_pk])),
        picker_url=escaped(reverse("issues:picker", args=["organisation"])),
        csrf_input=csrf_input(context),
        today=timezone.localdate().isoformat(),  # as `{% now 'Y-m-d' %}`
        # `{% blocktranslate %}` leaves its text as translated and escapes only the values.
        since=gettext("since %(date)s"),
        until=gettext("until %(date)s"),
        inherited=gettext("By default, via %(source)s: %(organisation)s"),
        scheduled=gettext("From %(date)s: %(organisation)s"),
        nobody=escaped(gettext("Nobody")),
        history=escaped(gettext("History")),
        change=escaped(gettext("Change")),
        organisation=escaped(gettext("Organisation")),
        lead_person=escaped(gettext("Lead person")),
        lead_phone=escaped(gettext("Lead phone")),
        valid_from=escaped(gettext("Valid from")),
        correction_reason=escaped(gettext("Correction reason")),
        correction_help=escaped(gettext("only for a start date in the past")),
        assign=escaped(gettext("Assign")),
        territorial=escaped(gettext("Territorial (属地)")),
        paired=escaped(gettext("Paired (包联)")),
        point_type=escaped(gettext("Type")),
        inactive=escaped(gettext("inactive")),
        zone_wide=escaped(gettext("Zone-wide")),
        in_district=gettext("In %(district)s") % {"district": escaped(district.display_name)},
        no_communities=escaped(gettext("This district has no communities yet.")),
        no_points=escaped(gettext("No more inspection points in this community.")),
        no_sectors=escaped(gettext("No active category is owned by a sector department.")),
    )


def _page_words(context: template.Context) -> _Words:
    """The words of the page's district, made on its first cell or row."""
    district = context["district"]
    return per_page(context, ("matrix cell", district.pk), lambda: _words(context, district))


def _day(value: datetime.date) -> str:
    """`{{ value|date:"Y-m-d" }}` for a date."""
    return value.isoformat()


def _owners(words: _Words, cell: Cell) -> str:
    """Who answers now (with lead and dates), else what applies by default, else "Nobody"."""
    parts = []
    for row in cell.current:
        lead = ""
        if row.lead_person or row.lead_phone:
            phone = ""
            if row.lead_phone:
                number = escaped(row.lead_phone)
                phone = f' <a href="tel:{number}">{number}</a>'
            lead = f'<span class="cell-lead">{escaped(row.lead_person)}{phone}</span>'
        dates = words.since % {"date": _day(row.valid_from)}
        if row.valid_to:
            dates += " · " + words.until % {"date": _day(row.valid_to)}
        parts.append(
            '\n    <div class="cell-owner">\n'
            f"      <strong>{escaped(row.organisation.display_name)}</strong>\n"
            f"      {lead}\n"
            f'      <span class="muted small">{dates}</span>\n'
            "    </div>\n  "
        )
    if parts:
        return "".join(parts)
    if cell.inherited:
        inherited = words.inherited % {
            "source": escaped(cell.inherited_label),
            "organisation": escaped(cell.inherited.organisation.display_name),
        }
        shown = f'<div class="cell-inherited muted">{inherited}</div>'
    else:
        shown = f'<span class="badge badge-gap">{words.nobody}</span>'
    return f"\n    \n      {shown}\n    \n  "


def _scheduled(words: _Words, cell: Cell) -> str:
    return "".join(
        '\n    <div class="cell-scheduled small">'
        + words.scheduled
        % {"date": _day(row.valid_from), "organisation": escaped(row.organisation.display_name)}
        + "</div>\n  "
        for row in cell.scheduled
    )


def _value(form: Any, name: str) -> str:
    """`{{ form.<name>.value|default:'' }}`: the submitted (or initial) value, escaped."""
    if form is None:
        return ""
    value = form[name].value()
    return escaped(value) if value else ""


def _errors(form: Any, name: str) -> str:
    """`{{ form.<name>.errors }}`: the field's error list, as the form renderer writes it."""
    return str(form[name].errors) if form is not None else ""


def _form(words: _Words, anchor: str, query: str, form: Any) -> str:
    """The edit form: post to the cell, swap the cell with htmx; values and errors if bound."""
    url = f"{words.cell_base}?{query}"
    non_field = ""
    if form is not None and form.non_field_errors():
        non_field = str(form.non_field_errors())
    valid_from = form["valid_from"].value() if form is not None else None
    from_value = escaped(str(valid_from)) if valid_from else words.today
    return (
        f'    <form method="post" action="{url}" hx-post="{url}" hx-target="#{anchor}" '
        'hx-swap="outerHTML">\n'
        f"      {words.csrf_input}\n"
        f"      {non_field}\n"
        f'      <label for="{anchor}-org">{words.organisation}</label>\n'
        f'      <input id="{anchor}-org" name="organisation" type="search" class="picker" '
        f'list="organisation-options" data-picker-url="{words.picker_url}" autocomplete="off" '
        f'spellcheck="false" required maxlength="200" value="{_value(form, "organisation")}">\n'
        f"      {_errors(form, 'organisation')}\n"
        f'      <label for="{anchor}-lead">{words.lead_person}</label>\n'
        f'      <input id="{anchor}-lead" name="lead_person" maxlength="60" '
        f'value="{_value(form, "lead_person")}">\n'
        f'      <label for="{anchor}-phone">{words.lead_phone}</label>\n'
        f'      <input id="{anchor}-phone" name="lead_phone" maxlength="30" inputmode="tel" '
        f'value="{_value(form, "lead_phone")}">\n'
        f"      {_errors(form, 'lead_phone')}\n"
        f'      <label for="{anchor}-from">{words.valid_from}</label>\n'
        f'      <input id="{anchor}-from" name="valid_from" type="date" required '
        f'value="{from_value}">\n'
        f"      {_errors(form, 'valid_from')}\n"
        f'      <label for="{anchor}-correction">{words.correction_reason} '
        f'<span class="muted small">{words.correction_help}</span></label>\n'
        f'      <input id="{anchor}-correction" name="correction_reason" maxlength="200" '
        f'value="{_value(form, "correction_reason")}">\n'
        f'      <button type="submit" class="btn btn-primary btn-small">{words.assign}</button>\n'
        "    </form>\n"
    )


def _cell(
    words: _Words,
    cell: Cell,
    form: BaseForm | None = None,
    saved_message: str = "",
    open_form: bool = False,
) -> str:
    slot = cell.slot
    anchor = escaped(slot.anchor)
    query = escaped(slot.query)
    saved = (
        f'<p class="cell-saved" role="status">{escaped(saved_message)}</p>' if saved_message else ""
    )
    is_open = " open" if (form is not None and form.errors) or open_form else ""
    return (
        "\n\n"
        f'<div class="cell{" cell-gap" if cell.is_gap else ""}" id="{anchor}">\n'
        f"  {saved}\n"
        f"  {_owners(words, cell)}\n"
        f"  {_scheduled(words, cell)}\n"
        '  <div class="cell-actions">\n'
        f'  <a class="cell-history small" href="{words.history_base}?{query}">'
        f"{words.history}</a>\n"
        f'  <details class="cell-edit"{is_open}>\n'
        f"    <summary>{words.change}</summary>\n"
        f"{_form(words, anchor, query, form)}"
        "  </details>\n"
        "  </div>\n"
        "</div>\n"
    )


@register.simple_tag(takes_context=True)
def matrix_cell(
    context: template.Context,
    cell: Cell,
    form: Any = None,
    saved_message: str = "",
    open_form: bool = False,
) -> SafeString:
    """One matrix cell: current owners, scheduled ones, what applies by default, and a small
    form to change it (open when it has errors or `open_form`)."""
    if not isinstance(form, BaseForm):
        form = None  # the matrix page and the swap after a save have none ("" from the context)
    words = _page_words(context)
    return mark_safe(  # noqa: S308 - every value is escaped in there
        _cell(words, cell, form, saved_message, open_form)
    )


def _rows(rows: list[str], empty: str, after: str) -> SafeString:
    """A table's rows, or its one row saying it has none (`{% empty %}`), as the loop wrote it."""
    if not rows:
        rows = [f'\n        <tr><td colspan="3" class="empty">{empty}</td></tr>{after}']
    return mark_safe("".join(rows))  # noqa: S308 - every value is escaped by the callers


@register.simple_tag(takes_context=True)
def matrix_community_rows(context: template.Context, matrix: Matrix) -> SafeString:
    """The district's communities, each with its territorial and paired cells and a link to
    its points (the chosen community's marked as current)."""
    words = _page_words(context)
    parts = []
    for row in matrix.communities:
        community = row.community
        pk = community.pk
        name = escaped(community.display_name)
        if row is matrix.community:
            opening, closing = '<span class="small" aria-current="true">', "</span>"
        else:
            opening, closing = f'<a class="small" href="?community={pk}#points">', "</a>"
        count = community.point_count
        points = ngettext(
            "%(counter)s inspection point in %(community)s",
            "%(counter)s inspection points in %(community)s",
            count,
        ) % {"counter": count, "community": name}
        parts.append(
            f'\n        <tr id="community-{pk}">\n'
            '          <th scope="row">\n'
            f"            {name}\n"
            f'            <span class="muted small mono">{escaped(community.code)}</span>\n'
            "          </th>\n"
            f'          <td data-label="{words.territorial}">{_cell(words, row.territorial)}</td>\n'
            f'          <td data-label="{words.paired}">{_cell(words, row.paired)}</td>\n'
            "        </tr>\n"
            '        <tr class="matrix-points-row">\n'
            '          <td colspan="3">\n'
            f"            {opening}{points}{closing}\n"
            "          </td>\n"
            "        </tr>\n        "
        )
    return _rows(parts, words.no_communities, "\n        ")


@register.simple_tag(takes_context=True)
def matrix_point_rows(context: template.Context, row: CommunityRow) -> SafeString:
    """A page of the chosen community's points, each with its paired cell."""
    words = _page_words(context)
    parts = []
    for point_row in row.points:
        point = point_row.point
        inactive = "" if point.is_active else f' <span class="badge">{words.inactive}</span>'
        parts.append(
            "\n        <tr>\n"
            f'          <th scope="row">{escaped(point.name)} '
            f'<span class="muted small mono">{escaped(point.code)}</span>{inactive}</th>\n'
            f'          <td class="small" data-label="{words.point_type}">'
            f"{escaped(point.point_type.display_name)}</td>\n"
            f'          <td data-label="{words.paired}">{_cell(words, point_row.paired)}</td>\n'
            "        </tr>\n      "
        )
    return _rows(parts, words.no_points, "\n      ")


@register.simple_tag(takes_context=True)
def matrix_sector_rows(context: template.Context, matrix: Matrix) -> SafeString:
    """The sector categories, each with its zone-wide cell and the district's own."""
    words = _page_words(context)
    parts = []
    for row in matrix.sectors:
        category = row.category
        hint = ""
        if category.sector_hint:
            hint = f' <span class="muted small">({escaped(category.sector_hint)})</span>'
        parts.append(
            f'\n        <tr id="category-{category.pk}">\n'
            f'          <th scope="row">{escaped(category.display_name)}{hint}</th>\n'
            f'          <td data-label="{words.zone_wide}">{_cell(words, row.zone)}</td>\n'
            f'          <td data-label="{words.in_district}">{_cell(words, row.district)}</td>\n'
            "        </tr>\n      "
        )
    return _rows(parts, words.no_sectors, "\n      ")
