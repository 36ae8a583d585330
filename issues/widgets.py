"""Choice widgets that render their options in Python.

Django renders every <option> and checkbox through two template includes; on the list page the
filter form's hundred-odd options cost more than the rows (measured with
`benchmark_pages --profile`). These widgets write the same HTML in Python, escaping each part.
"""

from __future__ import annotations

import html
from typing import Any

from django import forms
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django_filters.fields import ChoiceIterator as FilterChoiceIterator

from civicapp.frames import Drawn
from civicapp.renderers import escaped, sorted_attrs, template_attrs

OPTION_HTML = '<div>\n    <label{}><input type="{}" name="{}" value="{}"{}> {}</label></div>'


# A choice list's options as drawn: (value, escaped value, escaped label), or for a group
# (None, escaped group label, its options).
OptionRows = list[tuple[str | None, str, Any]]


def option_rows_of(choices: Any) -> OptionRows:
    """A choice list's options escaped for drawing."""
    rows: OptionRows = []
    for option_value, label in choices:
        if isinstance(label, (list, tuple)):
            rows.append((None, escaped(option_value), option_rows_of(label)))
        else:
            shown = "" if option_value is None else str(option_value)
            rows.append((shown, html.escape(shown), escaped(label)))
    return rows


# Options of choices that are read afresh each request, drawn once per set of rows (`Drawn`).
DRAWN_OPTIONS: Drawn[OptionRows] = Drawn()


class OptionRowsMixin:
    """A choice widget's options escaped once per language for a fixed choice list.

    A list given in the code (statuses, yes/no, sort keys, with a filter's "any") draws the
    same options for every request but for the one chosen: they are escaped and their lazy
    labels translated once per language, kept with the list they were drawn from (every copy
    of the widget shares them). Model and reference choices, which change, are drawn afresh."""

    choices: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.option_rows_by_language: dict[str | None, tuple[Any, tuple, OptionRows]] = {}

    def option_rows(self) -> OptionRows:
        choices = self.choices
        own = getattr(choices, "option_rows", None)
        if own is not None:
            return own()  # choices that draw their own options (`DRAWN_OPTIONS`)
        fixed = _fixed(choices)
        if fixed is None:
            return option_rows_of(choices)
        language = translation.get_language()
        drawn = self.option_rows_by_language.get(language)
        if (
            drawn is not None
            and drawn[0] is choices
            and all(now is then for now, then in zip(fixed, drawn[1], strict=True))
        ):
            return drawn[2]
        rows = option_rows_of(choices)
        self.option_rows_by_language[language] = (choices, fixed, rows)
        return rows


def _fixed(choices: Any) -> tuple | None:
    """What a fixed choice list's options depend on besides the list, or None when they are
    not fixed: a list, or django-filter's iterator over a list (which adds its field's empty
    and null choices)."""
    if isinstance(choices, list):
        return ()
    if isinstance(choices, FilterChoiceIterator) and isinstance(choices.choices, list):
        field = choices.field
        return (field.empty_label, field.null_label, field.null_value)
    return None


class FastSelect(OptionRowsMixin, forms.Select):
    """A <select> written in Python, the same markup as Django's template.

    It walks the choices itself: Django's `optgroups` builds a dictionary of attributes, a
    label and a template name for every option before a template draws it, which cost more
    than the rest of the list's filter form.
    """

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> SafeString:
        selected = set(self.format_value(value))
        final_attrs = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final_attrs["multiple"] = True  # as Django's Select.get_context
        # In the attributes' order, as Django's template: a required select writes `required`
        # before its id.
        shown_attrs = {key: value for key, value in final_attrs.items() if value is not None}
        parts = [f'<select name="{escaped(name)}"{template_attrs(shown_attrs)}>']
        multiple = self.allow_multiple_selected
        has_selected = False

        def option(shown: str, value_html: str, label_html: str) -> str:
            nonlocal has_selected
            # As Django's optgroups: a single select marks its first match only.
            chosen = shown in selected and (multiple or not has_selected)
            has_selected |= chosen
            marked = " selected" if chosen else ""
            return f'<option value="{value_html}"{marked}>{label_html}</option>'

        for shown, value_html, label in self.option_rows():
            if shown is None:
                parts.append(f'<optgroup label="{value_html}">')
                parts.extend(option(*sub) for sub in label)
                parts.append("</optgroup>")
            else:
                parts.append(option(shown, value_html, label))
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every part above is escaped


class FastCheckboxSelectMultiple(OptionRowsMixin, forms.CheckboxSelectMultiple):
    """Checkboxes written in Python, the same markup as Django's template: each box gets the
    widget's attributes, its own id (`<id>_<index>`) and `checked` when chosen."""

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> SafeString:
        rows = self.option_rows()
        if any(shown is None for shown, _value, _label in rows):
            return self._render_with_groups(name, value, attrs)
        selected = set(self.format_value(value))
        widget_attrs = self.build_attrs(self.attrs, attrs)
        outer_id = widget_attrs.get("id")
        outer = sorted_attrs({"id": outer_id, "class": widget_attrs.get("class")})
        parts = [f"<div{outer}>"]
        name_html = escaped(name)
        input_type = escaped(self.input_type)
        for index, (shown, value_html, label_html) in enumerate(rows):
            option_attrs = dict(widget_attrs)
            if shown in selected:
                option_attrs.update(self.checked_attribute)
            if "id" in option_attrs:
                option_attrs["id"] = self.id_for_label(option_attrs["id"], str(index))
            parts.append(
                OPTION_HTML.format(
                    sorted_attrs({"for": option_attrs.get("id")}),
                    input_type,
                    name_html,
                    value_html,
                    sorted_attrs(option_attrs),
                    label_html,
                )
            )
        parts.append("\n</div>")
        return mark_safe("".join(parts))  # noqa: S308 - every part above is escaped

    def _render_with_groups(self, name: str, value: Any, attrs: dict | None) -> SafeString:
        """Grouped choices (none today), through Django's option dictionaries."""
        widget = self.get_context(name, value, attrs)["widget"]
        outer_id = widget["attrs"].get("id")
        parts = [f"<div{sorted_attrs({'id': outer_id, 'class': widget['attrs'].get('class')})}>"]
        for _group, options, _index in widget["optgroups"]:
            for option in options:
                parts.append(
                    OPTION_HTML.format(
                        sorted_attrs({"for": option["attrs"].get("id")}),
                        escaped(option["type"]),
                        escaped(option["name"]),
                        escaped(str(option["value"])),
                        sorted_attrs(option["attrs"]),
                        escaped(option["label"]),
                    )
                )
        parts.append("\n</div>")
        return mark_safe("".join(parts))  # noqa: S308 - every part above is escaped
