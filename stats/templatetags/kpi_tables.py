"""The body rows of the dashboard's long tables, written in Python.

A two-year trend has 105 weekly rows and the organisation breakdown one row per unit; as nested
`{% for %}` loops every cell was a few template nodes, a context lookup and a localisation. The
tags write the same markup, each value rendered as `{{ value }}` renders it.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _text(value: Any) -> str:
    """A value as the template language prints it (localised, escaped)."""
    return str(conditional_escape(localize(value)))


@register.simple_tag
def trend_rows(table: list[dict[str, Any]]) -> SafeString:
    """The trend table's rows: the week, its counts and its on-time rate."""
    rows = []
    for row in table:
        cells = "".join(f'<td class="num">{_text(value)}</td>' for value in row["values"])
        rows.append(
            f'<tr><th scope="row">{_text(row["label"])}</th>{cells}'
            f'<td class="num">{_text(row["rate"])}</td></tr>'
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every value above is escaped


@register.simple_tag
def breakdown_rows(rows: list[dict[str, Any]]) -> SafeString:
    """A breakdown's rows: the group, its counts linked to their lists, and its rates."""
    lines = []
    for row in rows:
        cells = []
        for cell in row["cells"]:
            value = _text(cell["value"])
            if cell["url"]:
                value = f'<a href="{conditional_escape(cell["url"])}">{value}</a>'
            cells.append(f'<td class="num">{value}</td>')
        rates = "".join(f'<td class="num">{_text(value)}</td>' for value in row["rates"])
        lines.append(
            f'<tr>\n<th scope="row">{_text(row["label"])}</th>\n{"".join(cells)}\n{rates}\n</tr>'
        )
    return mark_safe("\n".join(lines))  # noqa: S308 - every value above is escaped
