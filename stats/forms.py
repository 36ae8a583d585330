"""The dashboards' filter form: a period preset (or custom days), a district and a big class."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from civicapp.choices import ListedChoiceIterator
from districts import policy
from districts.models import Category, District
from districts.widgets import DateInput
from stats.kpis import Period

THIS_WEEK = "this_week"
LAST_WEEK = "last_week"
THIS_MONTH = "this_month"
CAMPAIGN = "campaign"
CUSTOM = "custom"
PRESETS = [
    (THIS_WEEK, _("This week")),
    (LAST_WEEK, _("Last week")),
    (THIS_MONTH, _("This month")),
    (CAMPAIGN, _("Campaign to date")),
    (CUSTOM, _("Custom")),
]
# A custom period longer than this is refused: nobody reads a decade on one page.
MAX_DAYS = 3 * 366


def monday_of(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def preset_period(preset: str, today: datetime.date, campaign_start: datetime.date) -> Period:
    """The days of a preset; this week and this month end today."""
    if preset == LAST_WEEK:
        start = monday_of(today) - datetime.timedelta(days=7)
        return Period(start, start + datetime.timedelta(days=6))
    if preset == THIS_MONTH:
        return Period(today.replace(day=1), today)
    if preset == CAMPAIGN:
        return Period(min(campaign_start, today), today)
    return Period(monday_of(today), today)


class DistrictChoiceField(forms.ModelChoiceField):
    iterator = ListedChoiceIterator

    def label_from_instance(self, obj: Any) -> str:
        return obj.display_name


class DashboardFilterForm(civic_forms.Form):
    """Validated filters; an invalid form falls back to this week over the whole scope."""

    period = forms.ChoiceField(label=_("Period"), choices=PRESETS, required=False)
    start = forms.DateField(label=_("From"), required=False, widget=DateInput())
    end = forms.DateField(label=_("Until"), required=False, widget=DateInput())
    district = DistrictChoiceField(
        label=_("District"), queryset=District.objects.none(), required=False,
        empty_label=_("All my districts"),
    )  # fmt: skip
    big_class = forms.ChoiceField(
        label=_("Big class"),
        choices=[("", _("All big classes")), *Category.BigClass.choices],
        required=False,
    )

    def __init__(self, *args: Any, user: Any, campaign_start: datetime.date, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.campaign_start = campaign_start
        self.fields["district"].queryset = policy.districts_in_scope(user).only(
            "id", "name", "name_en"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("period") == CUSTOM:
            start, end = cleaned.get("start"), cleaned.get("end")
            if not start or not end:
                self.add_error("start", _("A custom period needs a first and a last day."))
            elif end < start:
                self.add_error("end", _("The end date is before the start date."))
            elif (end - start).days >= MAX_DAYS:
                self.add_error("end", _("A period can span at most three years."))
        return cleaned

    def chosen_period(self, today: datetime.date | None = None) -> Period:
        today = today or timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("period") or THIS_WEEK
        if preset == CUSTOM:
            return Period(data["start"], data["end"])
        return preset_period(preset, today, self.campaign_start)

    @property
    def preset(self) -> str:
        if self.is_valid():
            return self.cleaned_data.get("period") or THIS_WEEK
        return THIS_WEEK

    def scope_params(self) -> dict[str, str]:
        """The filters as issue-list parameters (district, big class)."""
        if not self.is_valid():
            return {}
        params = {}
        if self.cleaned_data.get("district"):
            params["district"] = str(self.cleaned_data["district"].pk)
        if self.cleaned_data.get("big_class"):
            params["big_class"] = self.cleaned_data["big_class"]
        return params
