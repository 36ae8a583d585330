"""Searchable pickers for choices with many options (points, communities, organisations).

A page never lists the reference data: a picker is a text input showing the chosen value as
"name [code]", with an empty <datalist> that `static/js/picker.js` fills from a small scoped JSON
endpoint (`issues:picker`) as the user types. Without JavaScript the same input takes the text:
a code in brackets, the exact name, or an id (the links of the home tiles), resolved inside the
user's scope in one query. So the page weighs the same for 50 points and for 5 000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from civicapp.forms import QuerysetWhenCheckedMixin
from districts import policy
from districts.inputs import clean_text, picked_code

# Answers of the endpoint are capped: a picker shows a short list, the user types more to narrow.
PICKER_LIMIT = 20
PICKER_QUERY_MAX_LENGTH = 60
# Ids are positive bigints; a longer run of digits is a name, never a primary key.
_MAX_ID_DIGITS = 18


@dataclass(frozen=True)
class PickerKind:
    """One kind of picker: where its rows come from (scoped) and how a row is named."""

    name: str
    name_fields: tuple[str, ...]
    code_field: str
    only: tuple[str, ...]

    def queryset(self, user: Any, *, reporting: bool = False) -> QuerySet:
        return SCOPES[(self.name, reporting)](user)


def _points(user: Any) -> QuerySet:
    return policy.points_in_scope(user)


def _reporting_points(user: Any) -> QuerySet:
    return policy.reporting_points(user)


def _communities(user: Any) -> QuerySet:
    return policy.communities_in_scope(user)


def _reporting_communities(user: Any) -> QuerySet:
    return policy.reporting_communities(user)


def _organisations(user: Any) -> QuerySet:
    return policy.organisations_in_scope(user)


KINDS = {
    "point": PickerKind("point", ("name", "code"), "code", ("id", "name", "code")),
    "community": PickerKind(
        "community", ("name", "name_en", "code"), "code", ("id", "name", "name_en", "code")
    ),
    "organisation": PickerKind(
        "organisation", ("name", "name_en", "code"), "code", ("id", "name", "name_en", "code")
    ),
}
SCOPES = {
    ("point", False): _points,
    ("point", True): _reporting_points,
    ("community", False): _communities,
    ("community", True): _reporting_communities,
    ("organisation", False): _organisations,
    ("organisation", True): _organisations,
}


def label_of(obj: Any, kind: PickerKind) -> str:
    """What the input shows for a chosen row: its name and, in brackets, its unique code."""
    name = getattr(obj, "display_name", None) or obj.name
    return f"{name} [{getattr(obj, kind.code_field)}]"


def search(kind: PickerKind, user: Any, text: str, *, reporting: bool = False) -> dict:
    """At most PICKER_LIMIT rows in scope whose name or code contains the text: one query."""
    text = clean_text(text, max_length=PICKER_QUERY_MAX_LENGTH)
    queryset = kind.queryset(user, reporting=reporting).only(*kind.only)
    if text:
        match = Q()
        for field in kind.name_fields:
            match |= Q(**{f"{field}__icontains": text})
        queryset = queryset.filter(match)
    rows = list(queryset.order_by(kind.name_fields[0], "pk")[: PICKER_LIMIT + 1])
    return {
        "results": [{"id": row.pk, "label": label_of(row, kind)} for row in rows[:PICKER_LIMIT]],
        "more": len(rows) > PICKER_LIMIT,
    }


class PickerInput(forms.TextInput):
    """A text input with an empty datalist the picker script fills; no options in the page."""

    input_type = "search"

    def __init__(self, kind: str, *, reporting: bool = False, attrs: dict | None = None):
        self.kind = kind
        self.reporting = reporting
        self.selected_label: str | None = None
        base = {"autocomplete": "off", "class": "picker", "spellcheck": "false"}
        super().__init__(attrs={**base, **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if self.selected_label is not None:
            return self.selected_label
        return super().format_value(value)

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        list_id = f"{widget_attrs.get('id') or name}-options"
        url = reverse("issues:picker", args=[self.kind])
        widget_attrs["list"] = list_id
        widget_attrs["data-picker-url"] = url + ("?reporting=1" if self.reporting else "")
        context["list_id"] = list_id
        return context

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> str:
        context = self.get_context(name, value, attrs)
        input_html = self._render(self.template_name, context, renderer)  # type: ignore[attr-defined]
        return format_html('{}<datalist id="{}"></datalist>', input_html, context["list_id"])


class PickerChoiceField(QuerysetWhenCheckedMixin, forms.ModelChoiceField):
    """A model choice typed as text: "name [code]", the exact name or the id, within the
    (scoped) queryset; one query to resolve it, none to render."""

    default_error_messages = {
        "ambiguous": _("Several have that name. Pick one from the list (with its code)."),
    }

    def __init__(self, queryset: Any, *, kind: str, reporting: bool = False, **kwargs: Any):
        self.kind = KINDS[kind]
        kwargs["widget"] = PickerInput(kind, reporting=reporting)
        kwargs.pop("empty_label", None)
        super().__init__(queryset, **kwargs)

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        if isinstance(value, self.queryset.model):
            return value
        text = str(value).strip()
        if len(text) > 200 or clean_text(text, max_length=200) != text:
            # Control characters (a NUL above all) never spell a name; PostgreSQL refuses them.
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        code = picked_code(text)
        if code is not None:
            condition = Q(**{self.kind.code_field: code})
        elif text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
            condition = Q(pk=int(text))
        else:
            condition = Q(**{self.kind.name_fields[0]: text}) | Q(**{self.kind.code_field: text})
        found = list(self.queryset.filter(condition).order_by("pk")[:2])
        if not found:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        if len(found) > 1:
            raise ValidationError(self.error_messages["ambiguous"], code="ambiguous")
        self.widget.selected_label = label_of(found[0], self.kind)
        return found[0]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return str(initial or "") != str(data or "")


def resolve_many(kind: str, queryset: QuerySet, texts: list[str]) -> dict[str, Any]:
    """What each typed text names in `queryset` (as `PickerChoiceField` reads one text: an id,
    "name [code]", a code or the exact name), for a form with a picker per row; one query for
    them all. A text that names nothing, or several, is left out."""
    picker_kind = KINDS[kind]
    wanted: dict[str, tuple[str, Any]] = {}
    condition = Q(pk__in=[])
    for raw in texts:
        text = str(raw or "").strip()
        if not text or text in wanted or len(text) > 200:
            continue
        if clean_text(text, max_length=200) != text:
            continue
        code = picked_code(text)
        if code is not None:
            wanted[text] = ("code", code)
        elif text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
            wanted[text] = ("pk", int(text))
        else:
            wanted[text] = ("name", text)
        kind_of, value = wanted[text]
        if kind_of == "pk":
            condition |= Q(pk=value)
        elif kind_of == "code":
            condition |= Q(**{picker_kind.code_field: value})
        else:
            condition |= Q(**{picker_kind.name_fields[0]: value})
            condition |= Q(**{picker_kind.code_field: value})
    if not wanted:
        return {}
    rows = list(queryset.filter(condition))
    found: dict[str, Any] = {}
    for text, (kind_of, value) in wanted.items():
        if kind_of == "pk":
            matches = [row for row in rows if row.pk == value]
        elif kind_of == "code":
            matches = [row for row in rows if getattr(row, picker_kind.code_field) == value]
        else:
            matches = [
                row
                for row in rows
                if getattr(row, picker_kind.name_fields[0]) == value
                or getattr(row, picker_kind.code_field) == value
            ]
        if len(matches) == 1:
            found[text] = matches[0]
    return found
