"""`{% field form.x %}`: one form field — label, widget, help text, errors — written in Python.

Every form of the site draws its fields through this one tag (`{% load form_fields %}`); as an
`{% include %}` of a template it cost a lookup, a context push and a dozen variable lookups per
field, and the list's filter form has thirty. The markup is that of the include it replaced:

- hidden fields: the widget alone;
- a single checkbox: the box, then its label, in `div.check-row`;
- fields that group several inputs (`use_fieldset`: checkbox lists, radios, split dates): a
  `fieldset` with a `legend`, `choice-list` for checkbox lists and radios;
- anything else: a `label` and the widget.

Each is followed by the help text (`p.help`, with the id the widget's `aria-describedby`
names) and the error list, and carries `has-error` when the field has errors.
"""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString, mark_safe

from civicapp.renderers import escaped

register = template.Library()

REQUIRED_MARK = '<span class="required-mark" aria-hidden="true">*</span>'
CHOICE_LISTS = frozenset({"checkboxselectmultiple", "radioselect"})


@register.simple_tag
def field(bound: BoundField) -> SafeString:
    if not isinstance(bound, BoundField):
        # A field the form does not have resolves to "" in a template: nothing, as the
        # include drew, rather than an error page.
        return mark_safe("")
    if bound.is_hidden:
        return mark_safe(str(bound))  # noqa: S308 - Django rendered and escaped the widget
    widget = str(bound)
    errors = bound.errors
    error_class = " has-error" if errors else ""
    label = escaped(bound.label) + (REQUIRED_MARK if bound.field.required else "")
    help_text = (
        f'\n  <p class="help" id="{escaped(bound.auto_id or "")}_helptext">'
        f"{escaped(bound.help_text)}</p>"
        if bound.help_text
        else ""
    )
    tail = f"{help_text}\n  {errors}\n"
    label_for = escaped(bound.id_for_label or "")
    widget_type = bound.widget_type
    if widget_type == "checkbox":
        html = (
            f'<div class="form-row{error_class}">\n  <div class="check-row">{widget}'
            f'<label for="{label_for}">{label}</label></div>{tail}</div>'
        )
    elif bound.use_fieldset:
        choice_list = " choice-list" if widget_type in CHOICE_LISTS else ""
        html = (
            f'<fieldset class="form-row{error_class}{choice_list}">\n'
            f"  <legend>{label}</legend>\n  {widget}{tail}</fieldset>"
        )
    else:
        html = (
            f'<div class="form-row{error_class}">\n'
            f'  <label for="{label_for}">{label}</label>\n  {widget}{tail}</div>'
        )
    return mark_safe(html)  # noqa: S308 - the label and help are escaped, Django wrote the rest
