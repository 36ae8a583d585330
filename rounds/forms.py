"""Input shapes of the round pages; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from districts import policy
from districts.models import Membership, Organisation, Role
from districts.widgets import DateInput
from rounds.models import Observation, Round

User = get_user_model()


class InspectorChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class RoundForm(civic_forms.Form):
    """A new round: what, when, where, which points and who walks them."""

    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=Round.Kind.choices)
    starts_on = forms.DateField(label=_("Starts on"), widget=DateInput())
    ends_on = forms.DateField(label=_("Ends on"), widget=DateInput())
    districts = forms.ModelMultipleChoiceField(
        label=_("Districts"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    selection = forms.ChoiceField(
        label=_("Points"), choices=Round.Selection.choices, widget=forms.RadioSelect
    )
    draw_per_type = forms.IntegerField(
        label=_("Points drawn per point type"), min_value=1, max_value=1000, required=False
    )
    seed = forms.IntegerField(
        label=_("Draw seed"),
        min_value=0,
        max_value=2**62,
        required=False,
        help_text=_("Leave empty for a new random draw; the same seed draws the same points."),
    )
    inspectors = InspectorChoiceField(
        label=_("Inspectors"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    groups = forms.ModelMultipleChoiceField(
        label=_("Supervision groups"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        districts = policy.supervised_districts(user)
        self.fields["districts"].queryset = districts
        self.fields["districts"].label_from_instance = lambda d: d.display_name
        inspector_ids = Membership.objects.filter(role=Role.INSPECTOR).filter(user__is_active=True)
        if not policy.covers_all_districts(user):
            inspector_ids = inspector_ids.filter(
                districts__in=districts
            ) | Membership.objects.filter(role=Role.INSPECTOR, all_districts=True)
        self.fields["inspectors"].queryset = User.objects.filter(
            pk__in=inspector_ids.values("user_id")
        ).order_by("username")
        groups = Organisation.objects.filter(
            kind=Organisation.Kind.SUPERVISION_GROUP, is_active=True
        )
        if not policy.covers_all_districts(user):
            groups = groups.filter(district__in=districts) | groups.filter(district__isnull=True)
        self.fields["groups"].queryset = groups.order_by("code")
        self.fields["groups"].label_from_instance = lambda g: g.display_name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("inspectors") and not cleaned.get("groups"):
            self.add_error("inspectors", _("Choose at least one inspector or group."))
        return cleaned


class MarkForm(civic_forms.Form):
    """One tap on a standard (the form fallback and the JSON endpoint share it)."""

    check_item = forms.IntegerField(min_value=1)
    result = forms.ChoiceField(choices=Observation.Result.choices)
    client_token = forms.UUIDField()
    observed_at = forms.DateTimeField(required=False)
    note = forms.CharField(max_length=200, required=False)
    latitude = forms.DecimalField(max_digits=12, decimal_places=8, required=False)
    longitude = forms.DecimalField(max_digits=12, decimal_places=8, required=False)
    accuracy_m = forms.FloatField(min_value=0, max_value=1_000_000, required=False)
    file_case = forms.BooleanField(required=False)


class VisitForm(civic_forms.Form):
    """Start or finish a visit, with the phone's position and capture time."""

    client_token = forms.UUIDField(required=False)
    at = forms.DateTimeField(required=False)
    latitude = forms.DecimalField(max_digits=12, decimal_places=8, required=False)
    longitude = forms.DecimalField(max_digits=12, decimal_places=8, required=False)
    accuracy_m = forms.FloatField(min_value=0, max_value=1_000_000, required=False)


class FixForm(civic_forms.Form):
    note = forms.CharField(max_length=200, required=False)
