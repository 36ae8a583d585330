"""Base classes for every form and filterset of the site: each request's copy is a cheap one.

Django copies all of a form's fields for every form it builds (`copy.deepcopy(base_fields)`),
and django-filter all of a filterset's filters for every filterset; both walk, item by item,
choice lists, lazy labels, widget classes and callables that no request changes. On the issue
list (thirty filters, then thirty fields) that was 1 500 `deepcopy` calls a request.

The copies here take what a request may change, and share the rest:

- a field: its own attributes (a shallow copy: `required`, `label`, `initial`, `queryset`...
  can be set on it), widget, `error_messages` and `validators` (what Django copies too); a model
  choice gets its own choice iterator from its queryset, as in Django (ticket #11183). Its choice
  list is shared: give a form's field other choices by assigning `field.choices`, never by
  changing the list in place;
- a widget: its own attributes and `attrs`;
- a filter: its own attributes, bound to the filterset that copies it (`parent`, its `method`).

A field or widget class with a `__deepcopy__` of its own (a `MultiValueField`, a `MultiWidget`)
is copied as it asks.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.forms.forms import DeclarativeFieldsMetaclass
from django.forms.models import ModelFormMetaclass
from django.forms.widgets import ChoiceWidget
from django_filters.filters import FilterMethod
from django_filters.filterset import FilterSetMetaclass

# The copies Django itself makes, which `copy_field` and `copy_widget` make more cheaply.
_FIELD_COPIES = frozenset(
    {
        forms.Field.__deepcopy__,
        forms.ChoiceField.__deepcopy__,
        forms.ModelChoiceField.__deepcopy__,
    }
)
_WIDGET_COPIES = frozenset({forms.Widget.__deepcopy__, ChoiceWidget.__deepcopy__})


def copy_widget(widget: forms.Widget, memo: dict[int, Any]) -> forms.Widget:
    """A widget for one form: its own attributes and `attrs`, the same choice list."""
    if type(widget).__deepcopy__ not in _WIDGET_COPIES:
        return copy.deepcopy(widget, memo)
    result = copy.copy(widget)
    result.attrs = widget.attrs.copy()
    return result


def copy_field(field: forms.Field, memo: dict[int, Any]) -> forms.Field:
    """A field for one form: what a request may change is its own (see the module)."""
    deepcopy = type(field).__deepcopy__
    if deepcopy not in _FIELD_COPIES:
        return copy.deepcopy(field, memo)
    result = copy.copy(field)
    result.widget = copy_widget(field.widget, memo)
    result.error_messages = field.error_messages.copy()
    result.validators = field.validators[:]
    if deepcopy is forms.ModelChoiceField.__deepcopy__:
        queryset = field.queryset  # type: ignore[attr-defined]
        if queryset is not None:
            # A new iterator, bound to this copy, over a new clone of the queryset.
            result.queryset = queryset  # type: ignore[attr-defined]
    return result


class CopiedFields(dict):
    """A form class's fields; `copy.deepcopy` of them (each form's `fields`) copies cheaply."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return {name: copy_field(field, memo) for name, field in self.items()}


class CopiedFieldsMetaclass(DeclarativeFieldsMetaclass):
    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_fields = CopiedFields(new_class.base_fields)  # type: ignore[attr-defined]
        return new_class


class CopiedModelFieldsMetaclass(ModelFormMetaclass):
    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_fields = CopiedFields(new_class.base_fields)  # type: ignore[attr-defined]
        return new_class


class Form(forms.Form, metaclass=CopiedFieldsMetaclass):
    """Every form of the site: `django.forms.Form`, whose fields each form copies cheaply."""


class ModelForm(forms.ModelForm, metaclass=CopiedModelFieldsMetaclass):
    """Every model form of the site: `django.forms.ModelForm`, copying its fields cheaply."""


def copy_filter(filter_: django_filters.Filter) -> django_filters.Filter:
    """A filter for one filterset: its own attributes; `method` resolves on the new parent."""
    result = copy.copy(filter_)
    # A form field built from this filter belongs to this copy alone.
    result.__dict__.pop("_field", None)
    if isinstance(filter_.filter, FilterMethod):
        result.method = filter_.method  # a FilterMethod bound to the copy, not the original
    return result


class CopiedFilters(OrderedDict):
    """A filterset class's filters; each filterset's copy of them is cheap."""

    def __deepcopy__(self, memo: dict[int, Any]) -> OrderedDict[str, django_filters.Filter]:
        return OrderedDict((name, copy_filter(filter_)) for name, filter_ in self.items())


class CopiedFiltersMetaclass(FilterSetMetaclass):
    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_filters = CopiedFilters(new_class.base_filters)
        return new_class


class FilterSet(django_filters.FilterSet, metaclass=CopiedFiltersMetaclass):
    """Every filterset of the site: `django_filters.FilterSet`, copying its filters cheaply."""


class QuerysetWhenCheckedMixin:
    """A model choice field whose widget never lists its queryset (a picker, a choice drawn from
    cached rows): `set_queryset_later` gives it a function that builds the queryset, called only
    when something reads `queryset` — checking a submitted value. A form left empty never
    builds the scoped queryset (a policy query with subqueries) of each such field."""

    def set_queryset_later(self, build: Callable[[], QuerySet]) -> None:
        self.__dict__["_queryset_later"] = build

    @property
    def queryset(self) -> Any:
        build = self.__dict__.pop("_queryset_later", None)
        if build is not None:
            self.queryset = build()
        return self._queryset  # type: ignore[attr-defined]

    @queryset.setter
    def queryset(self, queryset: QuerySet | None) -> None:
        self.__dict__.pop("_queryset_later", None)
        forms.ModelChoiceField._set_queryset(self, queryset)  # type: ignore[attr-defined]
