"""A workflow action's panel and form, written in Python: `{% action_form item issue %}`.

The case page shows a handful of actions; the verification queue shows two on each of its sixty
cases. Drawn with a template include (the panel, an include per field, the photo widget's
include with its nine messages), the queue's forms cost ten times the rest of the page
(`benchmark_pages --profile "verify queue"`). This tag writes the same markup: the panel, the
whole-form errors, the fields (a photo widget for photos, `{% field %}`'s row for the others)
and the duplicate candidates of "mark as duplicate". `item` is what `detail.action_item`
returns; the context gives the CSRF token, `next_url` and `duplicate_candidates`.

A queue shows the same unbound form on many cases (`detail.shared_action_item`): its fields
are drawn once per page, with `CASE_PK` where the case's id goes (its field ids) and
`CLIENT_UUID` where each form's own token goes, and each case gets that copy with its id and
a fresh token.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import template
from django.forms import BoundField
from django.template import defaultfilters
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext, gettext_noop

from civicapp.form_fields import REQUIRED_MARK
from civicapp.form_fields import field as field_row
from civicapp.renderers import csrf_input, escaped, per_page
from issues.templatetags.issue_badges import page_url, status_badge

register = template.Library()

# What differs between the cases of a shared form: the case's id and each form's client token.
CASE_PK = "\x00case\x00"
CLIENT_UUID = "\x00token\x00"

_CANDIDATES_HELP = gettext_noop(
    "Possible originals (same category, same place, the last two weeks):"
)
_CAMERA_ICON = (
    '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M14.5 4h-5L7 7H4a2 2 0 0 '
    '0-2 2v9a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V9a2 2 0 0 0-2-2h-3l-2.5-3z"/>'
    '<circle cx="12" cy="13" r="3.5"/></svg>'
)


def _photo_messages() -> tuple[str, str, str]:
    """The photo widget's opening attributes, camera label and help, in the active language:
    the same for every widget of a page, so a page computes them once (`per_page`)."""
    messages = (
        ("preparing", gettext("Preparing photos…")),
        ("ready", gettext("{count} photo(s) ready to send.")),
        ("remove", gettext("Remove photo {number}")),
        ("taken", gettext("taken {time}")),
        ("located", gettext("with GPS")),
        (
            "not-photo",
            gettext("{name} is not a photo (JPEG, PNG, WebP or HEIC) and was not added."),
        ),
        (
            "quota",
            gettext(
                "This phone has no room left to keep another photo. Send or discard waiting "
                "items first (Waiting to be sent)."
            ),
        ),
    )
    attrs = "".join(f'\n     data-msg-{name}="{escaped(text)}"' for name, text in messages)
    help_text = gettext(
        "Add as many as you need. They are made smaller before sending, to save mobile data; "
        "when and where each was taken is kept."
    )
    return (
        attrs,
        escaped(gettext("Take or choose photos")),
        escaped(help_text),
    )


# Set on a page that wrote the photo widgets' messages once (`photo_messages`).
_MESSAGES_WRITTEN = "photo messages written"


def _photo_widget(context: template.Context, field: BoundField, label: str = "") -> str:
    attrs, camera, help_text = per_page(context, "photo messages", _photo_messages)
    if per_page(context, _MESSAGES_WRITTEN, lambda: False):
        attrs = ""
    return (
        f'<div class="photo-input{" has-error" if field.errors else ""}" data-photo-widget\n'
        f'     data-max-side="1600"{attrs}>\n'
        f'  <label class="btn btn-primary btn-block camera-button" '
        f'for="{escaped(field.id_for_label)}">\n'
        f"    {_CAMERA_ICON}\n    {escaped(label) if label else camera}\n  </label>\n"
        f"  {field}\n"
        '  <ul class="photo-previews" data-photo-previews></ul>\n'
        "  <div data-photo-meta></div>\n"
        f'  <p class="help" data-photo-status role="status" aria-live="polite">{help_text}</p>\n'
        "</div>\n"
    )


@register.simple_tag(takes_context=True)
def photo_messages(context: template.Context) -> SafeString:
    """The photo widgets' messages, once for a page with many of them (a queue); the widgets
    drawn after it leave theirs out, and static/js/photos.js reads them here."""
    attrs, _camera, _help = per_page(context, "photo messages", _photo_messages)
    per_page(context, _MESSAGES_WRITTEN, lambda: True)  # unless a widget came first
    return mark_safe(f"<div hidden data-photo-messages{attrs}></div>")  # noqa: S308 - escaped


@register.simple_tag(takes_context=True)
def photo_input(context: template.Context, field: BoundField, label: str = "") -> SafeString:
    """A camera button with previews for a photos field. Without JavaScript it is the plain
    file input; with it, photos are reduced in the browser and their capture time and GPS are
    sent alongside (static/js/photos.js)."""
    return mark_safe(_photo_widget(context, field, label))  # noqa: S308 - escaped in there


def _photo_row(context: template.Context, field: BoundField) -> str:
    """The action form's row for photos: its label, the photo widget and the field's errors."""
    required = REQUIRED_MARK if field.field.required else ""
    return (
        '<div class="form-row">\n'
        f'  <span class="label">{escaped(field.label)}{required}</span>\n'
        f"{_photo_widget(context, field)}  {field.errors}\n</div>\n"
    )


def _duplicate_candidates(candidates: list) -> str:
    """The likely originals "mark as duplicate" offers: a datalist for the input and links."""
    options = []
    links = []
    for candidate in candidates:
        place = (candidate.point.name if candidate.point else "") or (
            candidate.community.display_name
        )
        reported = defaultfilters.date(localtime(candidate.reported_at), "SHORT_DATETIME_FORMAT")
        options.append(
            format_html(
                '<option value="{}">{} · {}</option>', candidate.case_number, place, reported
            )
        )
        links.append(
            format_html(
                '\n              <li><a href="{}" class="mono">{}</a> {} · {} · {}</li>',
                candidate.get_absolute_url(),
                candidate.case_number,
                place,
                status_badge(candidate),
                reported,
            )
        )
    return (
        f'<datalist id="duplicate-candidates">{"".join(options)}</datalist>\n'
        '<div class="form-row duplicate-candidates">\n'
        '  <p class="help">'
        f"{escaped(gettext(_CANDIDATES_HELP))}"
        '</p>\n  <ul class="plain-list">'
        f"{''.join(links)}\n  </ul>\n</div>\n"
    )


def _form_errors(form: Any) -> str:
    """As `includes/form_errors.html`: the errors of the whole form and of its hidden fields."""
    parts = []
    if form.non_field_errors():
        parts.append(f'<div role="alert">{form.non_field_errors()}</div>')
    for field in form.hidden_fields():
        if field.errors:
            parts.append(f'<div role="alert">{field.errors}</div>')
    return "".join(parts)


def _form_body(context: template.Context, form: Any, *, danger: bool) -> str:
    """Inside the <form>: CSRF, the way back, the form's errors, its fields, its button."""
    parts = []
    csrf = csrf_input(context)
    if csrf:
        parts.append(f"    {csrf}\n")
    next_url = context.get("next_url")
    if next_url:
        parts.append(f'    <input type="hidden" name="next" value="{escaped(next_url)}">\n')
    parts.append(_form_errors(form))
    parts.append("    ")
    parts.extend(str(field) for field in form.hidden_fields())
    parts.append("\n")
    candidates = context.get("duplicate_candidates")
    for field in form.visible_fields():
        if field.name == "photos":
            parts.append(_photo_row(context, field))
            continue
        parts.append(f"{field_row(field)}\n")
        if field.name == "duplicate_of" and candidates:
            parts.append(_duplicate_candidates(candidates))
    confirm = escaped(gettext("Confirm: %(label)s") % {"label": form.transition.label})
    parts.append(
        '    <div class="form-actions">\n'
        f'      <button type="submit" class="btn {"btn-danger" if danger else "btn-primary"} '
        f'btn-block">{confirm}</button>\n'
        "    </div>\n"
    )
    return "".join(parts)


@register.simple_tag(takes_context=True)
def action_form(context: template.Context, item: dict[str, Any], issue: Any) -> SafeString:
    """One workflow action: a panel with a POST form asking for what the transitions table lists."""
    transition = item["transition"]
    form = item["form"]
    label = escaped(transition.label)
    classes = "action-panel"
    if item["danger"]:
        classes += " action-danger"
    if item["primary"]:
        classes += " action-primary"
    form_attrs = ' enctype="multipart/form-data"' if item["multipart"] else ""
    if item["replayable"]:
        outbox_label = escaped(f"{transition.label} · {issue.case_number}")
        form_attrs += f' data-outbox="action" data-outbox-label="{outbox_label}"'
    url = page_url(context, "issues:issue_act", issue.pk, transition.action)
    if item.get("shared"):
        copy = per_page(
            context,
            ("shared form", id(form)),
            lambda: _form_body(context, form, danger=item["danger"]),
        )
        body = copy.replace(CASE_PK, str(issue.pk)).replace(CLIENT_UUID, str(uuid.uuid4()))
    else:
        body = _form_body(context, form, danger=item["danger"])
    return mark_safe(  # noqa: S308 - every part is escaped above or by Django
        f'<details class="{classes}" id="{escaped(item["anchor"])}"'
        f"{' open' if item['open'] else ''}>\n"
        f'  <summary class="btn btn-block{" btn-primary" if item["primary"] else ""}">'
        f"{label}</summary>\n"
        f'  <form method="post" action="{escaped(url)}" class="action-form"'
        f"{form_attrs} novalidate>\n{body}  </form>\n</details>\n"
    )
