"""Each form and filterset works on copies of its class's fields and filters (civicapp.forms):
nothing one request sets — a user's querysets, a widget's attributes, a picked label, the
filterset a method filter runs on — reaches another request's form."""

from __future__ import annotations

import datetime

from django import forms
from django.test import RequestFactory
from django.utils import timezone

from civicapp import forms as civic_forms
from districts.models import District
from issues.filters import IssueFilterSet
from issues.models import Issue


def _filterset(user, data=None, **kwargs) -> IssueFilterSet:
    request = RequestFactory().get("/issues/")
    request.user = user
    return IssueFilterSet(
        data if data is not None else {},
        queryset=Issue.objects.visible_to(user),
        request=request,
        **kwargs,
    )


def test_each_users_filter_form_offers_only_that_users_places(world):
    # Built in turns, as two requests of one process would build them.
    supervisor_a = _filterset(world.supervisor_xincheng)
    supervisor_b = _filterset(world.supervisor_binhe)
    handler = _filterset(world.handler_xincheng)
    assert list(supervisor_a.form.fields["district"].queryset) == [world.district_a]
    assert list(supervisor_b.form.fields["district"].queryset) == [world.district_b]
    assert set(supervisor_a.form.fields["community"].queryset) == {world.community_a}
    assert set(supervisor_b.form.fields["community"].queryset) == {world.community_b}
    assert set(supervisor_a.form.fields["point"].queryset) == {world.point_a}
    assert set(supervisor_b.form.fields["point"].queryset) == {world.point_b}
    assert list(handler.form.fields["organisation"].queryset) == [world.org_x]
    # The class every form copies keeps no one's queryset.
    shared = IssueFilterSet._shared_form_class().base_fields
    for name in ("district", "community", "point", "organisation", "category", "point_type"):
        assert shared[name].queryset is None


def test_a_picker_only_finds_places_in_its_own_users_scope(world):
    outside = _filterset(world.supervisor_binhe, {"community": str(world.community_a.pk)})
    inside = _filterset(world.supervisor_xincheng, {"community": str(world.community_a.pk)})
    assert not outside.is_valid()
    assert "community" in outside.form.errors
    assert inside.is_valid()
    assert inside.form.cleaned_data["community"] == world.community_a


def test_a_picked_label_stays_on_its_own_form(world):
    picked = _filterset(world.supervisor_xincheng, {"community": str(world.community_a.pk)})
    assert picked.is_valid()
    empty = _filterset(world.supervisor_xincheng)
    assert empty.is_valid()
    assert "水域蓝湾社区 [community-a]" in str(picked.form["community"])
    assert "水域蓝湾社区" not in str(empty.form["community"])


def test_each_filterset_runs_its_method_filters_on_itself(world):
    early = timezone.make_aware(datetime.datetime(2026, 1, 1, 8, 0))
    late = timezone.make_aware(datetime.datetime(2026, 6, 1, 8, 0))
    first = _filterset(world.supervisor_xincheng, {"overdue": "true"}, now=early)
    second = _filterset(world.supervisor_xincheng, {"overdue": "true"}, now=late)
    assert first.filters["overdue"].parent is first
    assert second.filters["overdue"].parent is second
    assert first.filters["overdue"].filter.f is first.filters["overdue"]
    assert str(first.qs.query) != str(second.qs.query)
    assert "2026-01-01" in str(first.qs.query)
    assert "2026-06-01" in str(second.qs.query)
    assert IssueFilterSet.base_filters["overdue"].filter.f is IssueFilterSet.base_filters["overdue"]


class _PlaceForm(civic_forms.Form):
    district = forms.ModelChoiceField(queryset=District.objects.order_by("pk"))
    kind = forms.ChoiceField(choices=[("a", "A"), ("b", "B")])
    note = forms.CharField(widget=forms.TextInput(attrs={"class": "note"}))


def test_what_one_form_changes_stays_on_that_form(world):
    changed = _PlaceForm()
    changed.fields["note"].widget.attrs["list"] = "somewhere"
    changed.fields["note"].required = False
    changed.fields["note"].validators.append(lambda value: None)
    changed.fields["note"].error_messages["required"] = "changed"
    changed.fields["kind"].choices = [("c", "C")]
    changed.fields["district"].queryset = District.objects.filter(pk=world.district_b.pk)
    fresh = _PlaceForm()
    assert fresh.fields["note"].widget.attrs == {"class": "note"}
    assert fresh.fields["note"].required
    assert fresh.fields["note"].validators == _PlaceForm.base_fields["note"].validators
    assert len(changed.fields["note"].validators) == len(fresh.fields["note"].validators) + 1
    assert fresh.fields["note"].error_messages["required"] != "changed"
    assert list(fresh.fields["kind"].choices) == [("a", "A"), ("b", "B")]
    assert 'value="c"' not in str(fresh["kind"])
    assert set(fresh.fields["district"].queryset) == {world.district_a, world.district_b}
    assert str(world.district_b.pk) in str(changed["district"])
    assert f'value="{world.district_a.pk}"' not in str(changed["district"])


def test_a_model_choice_of_each_form_reads_its_own_queryset(world):
    first, second = _PlaceForm(), _PlaceForm()
    base = _PlaceForm.base_fields["district"]
    assert first.fields["district"].queryset is not base.queryset
    assert first.fields["district"].queryset is not second.fields["district"].queryset
    # Its widget's options come from this form's field (Django's ticket #11183).
    assert first.fields["district"].widget.choices.field is first.fields["district"]
    list(first.fields["district"].queryset)
    assert base.queryset._result_cache is None
