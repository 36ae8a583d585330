"""The issue list's filters (django-filter), always applied to `Issue.objects.visible_to(user)`.

Every filter is declared here explicitly; sort keys and page sizes come from allowlists; choice
lists only offer what the user's scope covers, and load only id and name.
"""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import (
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    OrderBy,
    Q,
    QuerySet,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    PointType,
    Role,
    Severity,
)
from issues import permissions
from issues.models import CLOCK_STATUSES, EscalationLevel, Issue, Status, TimerLight

User = get_user_model()

# Sort keys the list accepts: key → (field, ascending). Ties break on id in the same direction.
SORTS: dict[str, tuple[str, bool]] = {
    "-reported_at": ("reported_at", False),
    "reported_at": ("reported_at", True),
    "deadline": ("deadline", True),
    "-deadline": ("deadline", False),
    "-updated_at": ("updated_at", False),
    "updated_at": ("updated_at", True),
}
DEFAULT_SORT = "-reported_at"
SORT_CHOICES = [
    ("-reported_at", _("Newest reports first")),
    ("reported_at", _("Oldest reports first")),
    ("deadline", _("Deadline, soonest first")),
    ("-deadline", _("Deadline, latest first")),
    ("-updated_at", _("Recently updated first")),
    ("updated_at", _("Least recently updated first")),
]
PAGE_SIZES = (10, 20, 50, 100)
DEFAULT_PAGE_SIZE = 20
# The share of the allowed time after which the timer light turns yellow (docs/domain.md §4).
YELLOW_FROM_FRACTION = 0.8

ANY_LABEL = _("Any")
BOOLEAN_CHOICES = [("true", _("yes")), ("false", _("no"))]


def sort_order(field: str, ascending: bool) -> list[OrderBy]:
    """ORDER BY terms of a sort key: the field, then id in the same direction, empty values last.

    NULLS LAST is written only for a column that can be empty: on a NOT NULL column it changes no
    result, but PostgreSQL no longer sees that the (field, id) index gives the order, and sorts
    the whole visible table for every page instead.
    """
    nulls_last = Issue._meta.get_field(field).null or None
    if ascending:
        return [F(field).asc(nulls_last=nulls_last), F("id").asc()]
    return [F(field).desc(nulls_last=nulls_last), F("id").desc()]


def role_for(user) -> str | None:
    """The user's role for choosing what a page shows; a superuser counts as admin."""
    return permissions.role_of(user)


def _covers_all_districts(user) -> bool:
    if user.is_superuser:
        return True
    membership = getattr(user, "membership", None)
    if membership is None:
        return False
    # A handler's issues follow the organisation, wherever it is sent; places are not secret.
    return membership.all_districts or membership.role == Role.HANDLER


def districts_in_scope(user) -> QuerySet[District]:
    """Districts whose issues the user may see (all of them for handlers, who follow their unit)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return District.objects.none()
    if _covers_all_districts(user):
        return District.objects.all()
    membership = getattr(user, "membership", None)
    if membership is None:
        return District.objects.none()
    return District.objects.filter(pk__in=membership.districts.values("pk"))


def _district_ids_subquery(user) -> QuerySet[District]:
    return districts_in_scope(user).values("pk")


def communities_in_scope(user) -> QuerySet[Community]:
    if _covers_all_districts(user):
        return Community.objects.all()
    return Community.objects.filter(district__in=_district_ids_subquery(user))


def points_in_scope(user) -> QuerySet[InspectionPoint]:
    if _covers_all_districts(user):
        return InspectionPoint.objects.all()
    return InspectionPoint.objects.filter(community__district__in=_district_ids_subquery(user))


def organisations_in_scope(user) -> QuerySet[Organisation]:
    """Organisations a user may filter by: a handler only their own; others those of their
    districts plus the zone-wide departments (which have no district)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Organisation.objects.none()
    if user.is_superuser:
        return Organisation.objects.all()
    membership = getattr(user, "membership", None)
    if membership is None:
        return Organisation.objects.none()
    if membership.role == Role.HANDLER:
        return Organisation.objects.filter(pk=membership.organisation_id)
    if membership.all_districts:
        return Organisation.objects.all()
    return Organisation.objects.filter(
        Q(district__in=membership.districts.values("pk")) | Q(district__isnull=True)
    )


# Choice lists: only the columns the <select> shows.
def _district_choices(request) -> QuerySet[District]:
    return districts_in_scope(request.user).only("id", "name", "name_en")


def _community_choices(request) -> QuerySet[Community]:
    return communities_in_scope(request.user).only("id", "name", "name_en")


def _point_choices(request) -> QuerySet[InspectionPoint]:
    return points_in_scope(request.user).only("id", "name")


def _organisation_choices(request) -> QuerySet[Organisation]:
    return organisations_in_scope(request.user).only("id", "name", "name_en")


def _point_type_choices(request) -> QuerySet[PointType]:
    return PointType.objects.only("id", "name", "name_en")


def _category_choices(request) -> QuerySet[Category]:
    return Category.objects.only("id", "name", "name_en")


def _reporter_choices(request) -> QuerySet:
    return User.objects.only("id", "username")


class DisplayNameChoiceField(forms.ModelChoiceField):
    """A model choice shown by `display_name`, so English users read English place names."""

    def label_from_instance(self, obj: Any) -> str:
        return getattr(obj, "display_name", None) or str(obj)


class DisplayNameChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = DisplayNameChoiceField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("empty_label", ANY_LABEL)
        super().__init__(*args, **kwargs)


class AnyChoiceFilter(django_filters.ChoiceFilter):
    """A single choice whose empty option reads "any" rather than dashes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("empty_label", ANY_LABEL)
        super().__init__(*args, **kwargs)


class DateInput(forms.DateInput):
    """The browser's own date picker."""

    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def local_day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of a day in the current time zone, as an aware datetime."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class IssueFilterForm(forms.Form):
    """The filter form's own fields (sort, page size) and cross-field checks (date ranges)."""

    sort = forms.ChoiceField(label=_("Sort"), choices=SORT_CHOICES, required=False)
    per_page = forms.TypedChoiceField(
        label=_("Rows per page"),
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PAGE_SIZE,
    )

    DATE_RANGES = (
        ("reported_from", "reported_to"),
        ("dispatched_from", "dispatched_to"),
        ("closed_from", "closed_to"),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for start_name, end_name in self.DATE_RANGES:
            start, end = cleaned.get(start_name), cleaned.get(end_name)
            if start and end and start > end:
                self.add_error(end_name, _("The end date is before the start date."))
        return cleaned


class IssueFilterSet(django_filters.FilterSet):
    """Filters of the issue list and its CSV export; pass `request` so choices follow scope."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Case number, description or address"),
                "enterkeyhint": "search",
            }
        ),
    )
    district = DisplayNameChoiceFilter(label=_("District"), queryset=_district_choices)
    community = DisplayNameChoiceFilter(label=_("Community"), queryset=_community_choices)
    point_type = DisplayNameChoiceFilter(
        label=_("Point type"), field_name="point__point_type", queryset=_point_type_choices
    )
    point = DisplayNameChoiceFilter(label=_("Inspection point"), queryset=_point_choices)
    category = DisplayNameChoiceFilter(label=_("Category"), queryset=_category_choices)
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"),
        choices=Status.choices,
        method="filter_status",
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
    )
    organisation = DisplayNameChoiceFilter(
        label=_("Organisation"),
        field_name="assigned_organisation",
        queryset=_organisation_choices,
    )
    severity = AnyChoiceFilter(label=_("Severity"), choices=Severity.choices)
    overdue = AnyChoiceFilter(label=_("Overdue"), choices=BOOLEAN_CHOICES, method="filter_overdue")
    light = AnyChoiceFilter(
        label=_("Timer light"), choices=TimerLight.choices, method="filter_light"
    )
    escalation_level = django_filters.MultipleChoiceFilter(
        label=_("Escalation level"),
        choices=EscalationLevel.choices,
        method="filter_escalation_level",
        widget=forms.CheckboxSelectMultiple,
        distinct=False,
    )
    rework = AnyChoiceFilter(
        label=_("Sent back for rework"), choices=BOOLEAN_CHOICES, method="filter_rework"
    )
    reporter = django_filters.ModelChoiceFilter(
        label=_("Reporter (user name)"),
        queryset=_reporter_choices,
        to_field_name="username",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    reported_from = django_filters.DateFilter(
        label=_("Reported from"), field_name="reported_at", method="filter_from", widget=DateInput
    )
    reported_to = django_filters.DateFilter(
        label=_("Reported until"), field_name="reported_at", method="filter_to", widget=DateInput
    )
    dispatched_from = django_filters.DateFilter(
        label=_("Dispatched from"),
        field_name="dispatched_at",
        method="filter_from",
        widget=DateInput,
    )
    dispatched_to = django_filters.DateFilter(
        label=_("Dispatched until"),
        field_name="dispatched_at",
        method="filter_to",
        widget=DateInput,
    )
    closed_from = django_filters.DateFilter(
        label=_("Closed from"), field_name="closed_at", method="filter_from", widget=DateInput
    )
    closed_to = django_filters.DateFilter(
        label=_("Closed until"), field_name="closed_at", method="filter_to", widget=DateInput
    )

    class Meta:
        model = Issue
        fields: list[str] = []
        form = IssueFilterForm

    # The filters every page shows; the rest sit in the "more filters" part of the form.
    MAIN_FILTERS = ("status", "district", "community", "category", "organisation")
    FORM_ONLY_FIELDS = ("sort", "per_page")

    def __init__(
        self, data: Any = None, *args: Any, now: datetime.datetime | None = None, **kwargs: Any
    ) -> None:
        if data is not None:
            # Show the defaults the list applies, so the form says what the page shows.
            data = data.copy()
            for name, default in (("sort", DEFAULT_SORT), ("per_page", str(DEFAULT_PAGE_SIZE))):
                if not data.get(name):
                    data[name] = default
        super().__init__(data, *args, **kwargs)
        self.now = now or timezone.now()

    # ---- filter methods ----

    def filter_search(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        return queryset.search(value)

    def filter_status(
        self, queryset: QuerySet[Issue], name: str, value: list[str]
    ) -> QuerySet[Issue]:
        return queryset.filter(status__in=value)

    def filter_escalation_level(
        self, queryset: QuerySet[Issue], name: str, value: list[str]
    ) -> QuerySet[Issue]:
        return queryset.filter(escalation_level__in=[int(level) for level in value])

    def filter_overdue(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        overdue = Q(status__in=CLOCK_STATUSES, deadline__lt=self.now)
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)

    def filter_rework(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        if value == "true":
            return queryset.filter(rework_count__gt=0)
        return queryset.filter(rework_count=0)

    def filter_light(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        """The derived timer light as SQL: the same thresholds as `Issue.timer_light`."""
        running = queryset.filter(
            status__in=CLOCK_STATUSES, clock_started_at__isnull=False, deadline__isnull=False
        )
        allowed = ExpressionWrapper(
            F("deadline") - F("clock_started_at"), output_field=DurationField()
        )
        yellow_from = ExpressionWrapper(
            F("clock_started_at")
            + ExpressionWrapper(allowed * YELLOW_FROM_FRACTION, output_field=DurationField()),
            output_field=DateTimeField(),
        )
        # An allowance of zero or less counts as used up: red, as in Issue.elapsed_fraction.
        no_time = Q(deadline__lte=F("clock_started_at"))
        if value == TimerLight.RED:
            return running.filter(Q(deadline__lt=self.now) | no_time)
        running = running.alias(yellow_from=yellow_from).exclude(no_time)
        if value == TimerLight.YELLOW:
            return running.filter(yellow_from__lte=self.now, deadline__gte=self.now)
        return running.filter(yellow_from__gt=self.now)

    def filter_from(
        self, queryset: QuerySet[Issue], name: str, value: datetime.date
    ) -> QuerySet[Issue]:
        # A range on the column itself (not `__date`) so the index on it still serves.
        return queryset.filter(**{f"{name}__gte": local_day_start(value)})

    def filter_to(
        self, queryset: QuerySet[Issue], name: str, value: datetime.date
    ) -> QuerySet[Issue]:
        next_day = value + datetime.timedelta(days=1)
        return queryset.filter(**{f"{name}__lt": local_day_start(next_day)})

    # ---- the filterset as a whole ----

    def filter_queryset(self, queryset: QuerySet[Issue]) -> QuerySet[Issue]:
        for name, value in self.form.cleaned_data.items():
            if name in self.filters:
                queryset = self.filters[name].filter(queryset, value)
        return queryset.order_by(*sort_order(*SORTS[self.sort]))

    @property
    def sort(self) -> str:
        """The sort key asked for, or the default when none (or an invalid one) was given."""
        if self.is_bound and self.form.is_valid():
            return self.form.cleaned_data.get("sort") or DEFAULT_SORT
        return DEFAULT_SORT

    @property
    def page_size(self) -> int:
        if self.is_bound and self.form.is_valid():
            return self.form.cleaned_data.get("per_page") or DEFAULT_PAGE_SIZE
        return DEFAULT_PAGE_SIZE

    @property
    def active_filter_count(self) -> int:
        """How many filters narrow the list (sort and page size do not), for the summary line."""
        if not self.is_bound or not self.form.is_valid():
            return 0
        return sum(
            1
            for name, value in self.form.cleaned_data.items()
            if name in self.filters and value not in (None, "", [], ())
        )
