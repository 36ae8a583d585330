"""Choice widgets that render their options in Python.

Django renders every <option> and checkbox through two template includes; on the list page the
filter form's hundred-odd options cost more than the rows (measured with
`benchmark_pages --profile`). These widgets write the same HTML in Python, escaping each part.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe

OPTION_HTML = '<div>\n    <label{}><input type="{}" name="{}" value="{}"{}> {}</label></div>'


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """As Django's attrs.html, in the attributes' order: True is a bare attribute, False and
    None are left out (`flatatt` would move the bare ones last)."""
    written = "".join(
        f" {escape(key)}" if value is True else f' {escape(key)}="{conditional_escape(value)}"'
        for key, value in attrs.items()
        if value is not None and value is not False
    )
    return mark_safe(written)  # noqa: S308 - every name and value is escaped


class FastSelect(forms.Select):
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
        parts = [f'<select name="{escape(name)}"{_attrs(final_attrs)}>']
        state = {"has_selected": False}

        def option(option_value: Any, label: Any) -> str:
            shown = "" if option_value is None else str(option_value)
            # As Django's optgroups: a single select marks its first match only.
            chosen = shown in selected and (
                self.allow_multiple_selected or not state["has_selected"]
            )
            state["has_selected"] |= chosen
            marked = " selected" if chosen else ""
            return f'<option value="{escape(shown)}"{marked}>{conditional_escape(label)}</option>'

        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                parts.append(f'<optgroup label="{conditional_escape(option_value)}">')
                parts.extend(option(sub_value, sub_label) for sub_value, sub_label in label)
                parts.append("</optgroup>")
            else:
                parts.append(option(option_value, label))
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every part above is escaped


class FastCheckboxSelectMultiple(forms.CheckboxSelectMultiple):
    """Checkboxes written in Python, the same markup as Django's template."""

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        outer_id = widget["attrs"].get("id")
        parts = [
            format_html("<div{}>", _attrs({"id": outer_id, "class": widget["attrs"].get("class")}))
        ]
        for _group, options, _index in widget["optgroups"]:
            for option in options:
                option_id = option["attrs"].get("id")
                parts.append(
                    format_html(
                        OPTION_HTML,
                        _attrs({"for": option_id}),
                        option["type"],
                        option["name"],
                        str(option["value"]),
                        _attrs(option["attrs"]),
                        option["label"],
                    )
                )
        parts.append("\n</div>")
        return mark_safe("".join(parts))  # noqa: S308 - every part above is escaped
