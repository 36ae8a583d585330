"""Forms and the staff filter of the admin tools under /manage/; services decide what is valid."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from districts import importexport
from districts.inputs import picked_code
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    Role,
)
from districts.widgets import DateInput

User = get_user_model()


class AssignmentForm(civic_forms.Form):
    """One cell of the matrix: who answers for the slot from which day."""

    organisation = forms.CharField(
        label=_("Organisation"),
        max_length=200,
        help_text=_("Type to search; the code of the organisation is entered."),
        widget=forms.TextInput(attrs={"list": "organisation-options", "autocomplete": "off"}),
    )
    lead_person = forms.CharField(label=_("Lead person"), max_length=60, required=False)
    lead_phone = forms.CharField(
        label=_("Lead phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput())
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
    correction_reason = forms.CharField(
        label=_("Correction reason"),
        max_length=200,
        required=False,
        help_text=_("Only for a start date in the past that corrects the record."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("valid_from", timezone.localdate())

    def clean_organisation(self) -> Organisation:
        value = self.cleaned_data["organisation"].strip()
        # Accept what the picker enters ("name [code]"), the code, or an exact name.
        code = picked_code(value)
        if code is not None:
            value = code
        organisation = (
            Organisation.objects.filter(Q(code=value) | Q(name=value), is_active=True)
            .order_by("code")
            .first()
        )
        if organisation is None:
            raise forms.ValidationError(_("No active organisation has this code or name."))
        return organisation


class EndAssignmentForm(civic_forms.Form):
    """End one assignment at the start of a day."""

    valid_to = forms.DateField(label=_("Ends on"), widget=DateInput())


def _district_choices() -> QuerySet[District]:
    return District.objects.order_by("sort_order", "code")


class StaffForm(civic_forms.Form):
    """A staff account's name, role and scope (and, when creating, its username and password)."""

    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.filter(is_active=True).order_by("kind", "code"),
        required=False,
        help_text=_("Required for handlers."),
    )
    districts = forms.ModelMultipleChoiceField(
        label=_("Districts"),
        queryset=District.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Admins always work for the whole zone; choose districts for other roles."),
    )
    all_districts = forms.BooleanField(label=_("All districts"), required=False)
    phone = forms.CharField(
        label=_("Phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    email = forms.EmailField(label=_("E-mail"), required=False)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        strip=False,
    )
    password_again = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["districts"].queryset = _district_choices()
        self.creating = creating
        if not creating:
            for name in ("username", "password", "password_again"):
                del self.fields[name]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.creating and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return cleaned


class PasswordForm(civic_forms.Form):
    """A new password, to re-enable an account whose password was made unusable."""

    password = forms.CharField(
        label=_("New password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )


class StaffFilterSet(civic_forms.FilterSet):
    """The staff list's filters; every filter is declared, the queryset is all accounts."""

    q = django_filters.CharFilter(label=_("Name or username"), method="filter_text")
    role = django_filters.ChoiceFilter(
        label=_("Role"), field_name="membership__role", choices=Role.choices
    )
    organisation = django_filters.ModelChoiceFilter(
        label=_("Organisation"),
        field_name="membership__organisation",
        queryset=Organisation.objects.order_by("kind", "code"),
    )
    district = django_filters.ModelChoiceFilter(
        label=_("District"),
        queryset=District.objects.order_by("sort_order", "code"),
        method="filter_district",
    )
    is_active = django_filters.BooleanFilter(
        label=_("Active"),
        widget=forms.Select(
            choices=[("", _("All")), ("true", _("Active")), ("false", _("Disabled"))]
        ),
    )

    class Meta:
        model = User
        fields: list[str] = []

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(username__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )

    def filter_district(self, queryset: QuerySet, name: str, value: District | None) -> QuerySet:
        if value is None:
            return queryset
        # Scope covers the district by name or through "all districts"; no join duplicates rows.
        return queryset.filter(
            Q(membership__all_districts=True)
            | Q(
                membership__in=District.members.through.objects.filter(district=value).values(
                    "membership_id"
                )
            )
        )


class RoutingCheckForm(civic_forms.Form):
    """A place (district → community → optional point) and a category to ask routing about."""

    district = forms.ModelChoiceField(
        label=_("District"),
        queryset=District.objects.none(),
        required=False,
        help_text=_("Optional; narrows the communities."),
    )
    community = forms.ModelChoiceField(label=_("Community"), queryset=Community.objects.none())
    point = forms.ModelChoiceField(
        label=_("Inspection point"),
        queryset=InspectionPoint.objects.none(),
        required=False,
        help_text=_("Optional; the points of the chosen community."),
    )
    category = forms.ModelChoiceField(label=_("Category"), queryset=Category.objects.none())
    on = forms.DateField(
        label=_("On"), required=False, widget=DateInput(), help_text=_("Empty means today.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["district"].queryset = _district_choices()
        self.fields["district"].label_from_instance = lambda obj: obj.display_name
        district_id = self._raw_id("district")
        community_id = self._raw_id("community")
        communities = Community.objects.select_related("district").order_by(
            "district__sort_order", "district__code", "code"
        )
        if district_id:
            communities = communities.filter(district_id=district_id)
        self.fields["community"].queryset = communities
        # Grouped by district, so the place can be picked in one go without JavaScript.
        groups: dict[str, list[tuple[int, str]]] = {}
        for community in communities:
            groups.setdefault(community.district.display_name, []).append(
                (community.pk, community.display_name)
            )
        self.fields["community"].choices = [("", "---------"), *groups.items()]
        if community_id:
            self.fields["point"].queryset = InspectionPoint.objects.filter(
                community_id=community_id
            ).order_by("name")
        categories = Category.objects.filter(is_active=True)
        self.fields["category"].queryset = categories
        self.fields["category"].label_from_instance = lambda obj: f"{obj.display_name} ({obj.code})"

    def _raw_id(self, name: str) -> int | None:
        value = self.data.get(name) if self.is_bound else None
        try:
            return int(value) if value else None
        except (TypeError, ValueError):
            return None

    def clean(self) -> dict:
        cleaned = super().clean()
        district = cleaned.get("district")
        community = cleaned.get("community")
        if district and community and community.district_id != district.pk:
            self.add_error("community", _("This community is not in the chosen district."))
        return cleaned


KIND_CHOICES = [("", _("Recognise from the columns"))] + [
    (kind, spec.label) for kind, spec in importexport.SPECS.items()
]


class ImportForm(civic_forms.Form):
    """An XLSX workbook (one sheet per kind) or one CSV file of one kind."""

    file = forms.FileField(
        label=_("File"),
        help_text=_("XLSX with sheets named after the kinds, or CSV (UTF-8 or GB18030)."),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".xlsx,.csv,application/vnd.openxmlformats-officedocument"
                ".spreadsheetml.sheet,text/csv"
            }
        ),
    )
    kind = forms.ChoiceField(
        label=_("Kind of data (CSV only)"), choices=KIND_CHOICES, required=False
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > importexport.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MB.")
                % {"size": importexport.MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        if importexport.format_for_name(upload.name) is None:
            raise forms.ValidationError(_("Upload a .xlsx or .csv file."))
        return upload
