"""Choice lists read from the database, for the short lists a page offers as a select.

Django's `ModelChoiceIterator` reads its queryset with `.iterator()`. On PostgreSQL, outside a
transaction (every page view here), that is a server-side cursor declared WITH HOLD: a DECLARE,
a FETCH and a CLOSE, and the rows materialised when the implicit transaction commits, for the
dozen districts of the list's filter. A select here is short by design (a long choice is a
picker, `issues.pickers`), so it is read as one plain query.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.models import ModelChoiceIterator


class ListedChoiceIterator(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        # A fresh clone each time: the rows are never cached on a field that outlives a request.
        for obj in self.queryset.all():
            yield self.choice(obj)


class ShortModelChoiceField(forms.ModelChoiceField):
    """A model choice offered as a short select: its choices read in one plain query, each
    shown by its `display_name` where it has one (English names for English readers)."""

    iterator = ListedChoiceIterator

    def label_from_instance(self, obj: Any) -> str:
        return getattr(obj, "display_name", None) or str(obj)
