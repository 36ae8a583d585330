"""A form renderer that writes the commonest widget templates in Python.

Django renders every input, select and (empty) error list of a form through a template include
or two; on the list page the filter form's thirty fields cost more than its rows
(`benchmark_pages --profile "list 20"`). These functions write the same markup as Django's
templates (`django/forms/widgets/input.html`, `attrs.html`, `select.html`, `textarea.html`,
`clearable_file_input.html` without a current file, `errors/list/ul.html`); any other template
is rendered as usual.

The helpers every fragment written in Python shares live here too: `escaped`, `per_page` (what
a page's rows repeat, made once a render) and `csrf_input`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def escaped(text: Any) -> str:
    """`conditional_escape(text)`, for the hundreds of labels and values a form draws: the same
    text, without the check `escape` makes (through `keep_lazy`) of every argument for a lazy
    string, which cost more than the escaping."""
    if isinstance(text, Promise):
        text = str(text)
    if hasattr(text, "__html__"):
        return text.__html__()
    return html.escape(str(text))


_PER_PAGE = "civicapp.renderers.per_page"


def per_page(context: Any, key: Any, make: Callable[[], Any]) -> Any:
    """`make()` once per page render (`context` is the template's): what a tag repeated on every
    row of a queue or cell of a matrix needs the same of each time (URLs' shapes, labels,
    messages; a page renders in one language)."""
    store = context.render_context.get(_PER_PAGE)
    if store is None:
        store = context.render_context[_PER_PAGE] = {}
    if key not in store:
        store[key] = make()
    return store[key]


def csrf_input(context: Any) -> str:
    """`{% csrf_token %}`: the hidden input with the page's token, or nothing without one."""
    csrf = context.get("csrf_token")
    if not csrf or csrf == "NOTPROVIDED":  # Django's marker for a page without one
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{escaped(csrf)}">'


def sorted_attrs(attrs: dict[str, Any]) -> str:
    """`django.forms.utils.flatatt(attrs)` (what the Python-written choice widgets wrote): the
    attributes with a value, sorted, then the true booleans, sorted; None and False left out."""
    valued = []
    booleans = []
    for name, value in attrs.items():
        if isinstance(value, bool):
            if value:
                booleans.append(name)
        elif value is not None:
            valued.append((name, value))
    return "".join(f' {escaped(name)}="{escaped(value)}"' for name, value in sorted(valued)) + (
        "".join(f" {escaped(name)}" for name in sorted(booleans))
    )


def template_attrs(attrs: dict[str, Any]) -> str:
    """As `attrs.html`, in the attributes' order: True is a bare attribute, False is left out,
    anything else quoted."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {escaped(name)}")
        else:
            parts.append(f' {escaped(name)}="{escaped(str(value))}"')
    return "".join(parts)


def _input(context: dict[str, Any]) -> SafeString:
    widget = context["widget"]
    value = widget["value"]
    shown = "" if value is None else f' value="{escaped(str(value))}"'
    return mark_safe(  # noqa: S308 - every part is escaped above or here
        f'<input type="{escaped(widget["type"])}" '
        f'name="{escaped(widget["name"])}"{shown}{template_attrs(widget["attrs"])}>'
    )


def _file_input(context: dict[str, Any]) -> SafeString | None:
    """As `clearable_file_input.html` with no current file (photos never have one); a widget
    showing its current file is left to the template."""
    widget = context["widget"]
    if widget.get("is_initial"):
        return None
    return mark_safe(  # noqa: S308 - every part is escaped
        f'<input type="{escaped(widget["type"])}" '
        f'name="{escaped(widget["name"])}"{template_attrs(widget["attrs"])}>'
    )


def _textarea(context: dict[str, Any]) -> SafeString:
    widget = context["widget"]
    value = escaped(widget["value"]) if widget["value"] else ""
    return mark_safe(  # noqa: S308 - every part is escaped
        f'<textarea name="{escaped(widget["name"])}"{template_attrs(widget["attrs"])}>\n'
        f"{value}</textarea>"
    )


def _select(context: dict[str, Any]) -> SafeString:
    widget = context["widget"]
    name = escaped(widget["name"])
    parts = [f'<select name="{name}"{template_attrs(widget["attrs"])}>']
    for group, options, _index in widget["optgroups"]:
        if group:
            parts.append(format_html('<optgroup label="{}">', group))
        for option in options:
            value = "" if option["value"] is None else option["value"]
            shown = escaped(str(value))
            parts.append(
                f'<option value="{shown}"{template_attrs(option["attrs"])}>'
                f"{escaped(str(option['label']))}</option>"
            )
        if group:
            parts.append("</optgroup>")
    parts.append("</select>")
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped


def _error_list(context: dict[str, Any]) -> SafeString:
    errors = context["errors"]
    if not errors:
        return mark_safe("")
    field_id = getattr(errors, "field_id", None)
    id_attr = f' id="{escaped(field_id)}_error"' if field_id else ""
    items = "".join(f"<li>{escaped(error)}</li>" for error in errors)
    return mark_safe(  # noqa: S308 - every part is escaped
        f'<ul class="{escaped(context["error_class"])}"{id_attr}>{items}</ul>'
    )


_INPUTS = ("text", "search", "number", "email", "url", "tel", "password", "hidden", "date")
_IN_PYTHON: dict[str, Callable[[dict[str, Any]], SafeString | None]] = {
    **{f"django/forms/widgets/{name}.html": _input for name in _INPUTS},
    "django/forms/widgets/input.html": _input,
    "django/forms/widgets/checkbox.html": _input,
    "django/forms/widgets/datetime.html": _input,
    "django/forms/widgets/time.html": _input,
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/clearable_file_input.html": _file_input,
    "django/forms/widgets/select.html": _select,
    "django/forms/errors/list/default.html": _error_list,
    "django/forms/errors/list/ul.html": _error_list,
}


class FastTemplates(DjangoTemplates):
    """Django's default form renderer, with the commonest templates written in Python."""

    def render(self, template_name: str, context: dict[str, Any], request=None) -> str:
        fast = _IN_PYTHON.get(template_name)
        written = fast(context) if fast is not None else None
        if written is not None:
            return written
        return super().render(template_name, context, request=request)
