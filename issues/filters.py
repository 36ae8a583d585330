"""The issue list's filters (django-filter), always applied to `Issue.objects.visible_to(user)`.

Every filter is declared here explicitly; sort keys and page sizes come from allowlists; choice
lists only offer what the user's scope covers, and load only id and name.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from functools import partial
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
)
from django.forms.models import ModelChoiceIteratorValue
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from django.utils.translation import gettext_lazy as _
from django_filters.filters import QuerySetRequestMixin

from civicapp import forms as civic_forms
from civicapp.choices import ListedChoiceIterator
from districts import policy, reference
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    PointType,
    Severity,
)
from districts.widgets import DateInput
from issues import search
from issues.forms import CampaignDateField
from issues.models import (
    CLOCK_STATUSES,
    TIMER_YELLOW_FROM,
    Action,
    EscalationLevel,
    Issue,
    IssueEvent,
    Status,
    TimerLight,
    overdue_q,
    pending_extension_q,
    returned_q,
)
from issues.pickers import PickerChoiceField
from issues.widgets import (
    DRAWN_OPTIONS,
    FastCheckboxSelectMultiple,
    FastSelect,
    OptionRows,
    option_rows_of,
)

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
OTHER_SORTS = [sort for sort in SORTS if sort != DEFAULT_SORT]
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

ANY_LABEL = _("Any")
BOOLEAN_CHOICES = [("true", _("yes")), ("false", _("no"))]
# How a case with a deadline fared against it (the dashboards' 按期 / 超期 figures link here).
TIMELINESS_CHOICES = [
    ("on_time", _("closed on time")),
    ("closed_late", _("closed late")),
    ("late", _("late: closed late or overdue now")),
]


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


# Choice lists: only the columns the <select> shows.
def _district_choices(request) -> QuerySet[District]:
    return policy.districts_in_scope(request.user).only("id", "name", "name_en")


def _community_choices(request) -> QuerySet[Community]:
    return policy.communities_in_scope(request.user).only("id", "name", "name_en", "code")


def _point_choices(request) -> QuerySet[InspectionPoint]:
    return policy.points_in_scope(request.user).only("id", "name", "code")


def _organisation_choices(request) -> QuerySet[Organisation]:
    return policy.organisations_in_scope(request.user).only("id", "name", "name_en", "code")


def _point_type_choices(request) -> QuerySet[PointType]:
    return PointType.objects.only("id", "name", "name_en")


def _category_choices(request) -> QuerySet[Category]:
    return Category.objects.only("id", "name", "name_en")


class DisplayNameChoiceField(forms.ModelChoiceField):
    """A model choice shown by `display_name`, so English users read English place names."""

    iterator = ListedChoiceIterator

    def label_from_instance(self, obj: Any) -> str:
        return getattr(obj, "display_name", None) or str(obj)


class DisplayNameChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = DisplayNameChoiceField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("empty_label", ANY_LABEL)
        kwargs.setdefault("widget", FastSelect)
        super().__init__(*args, **kwargs)


class ReferenceChoiceIterator(BaseChoiceIterator):
    """A reference table's choices from `districts.reference` (no query, no model instances);
    the field's queryset still checks a submitted value. Lazy, as Django's own iterator: a
    form that is never drawn (the CSV export) never reads the table."""

    def __init__(self, field: ReferenceChoiceField) -> None:
        self.field = field

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for row in self.field.rows():
            yield (ModelChoiceIteratorValue(row.id, row), row.display_name)

    def __len__(self) -> int:
        return len(self.field.rows()) + (self.field.empty_label is not None)

    def option_rows(self) -> OptionRows:
        """The options as `FastSelect` draws them, escaped once per language and set of rows
        (`issues.widgets.DRAWN_OPTIONS`): the rows come from the cache on every request."""
        field = self.field
        rows = field.rows()  # read once: the options drawn are those of the key
        choices = [("", field.empty_label)] if field.empty_label is not None else []
        choices += [(row.id, row.display_name) for row in rows]
        return DRAWN_OPTIONS.get(
            (field.reference, field.empty_label, rows), lambda: option_rows_of(choices)
        )

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(self.field.rows())


class ReferenceChoiceField(civic_forms.QuerysetWhenCheckedMixin, DisplayNameChoiceField):
    """A choice of a reference table's cached rows; `shown_ids`, when set, keeps those rows
    only (a user's districts), and the queryset (the same scope) checks a submitted value."""

    iterator = ReferenceChoiceIterator

    def __init__(self, *args: Any, reference: str, **kwargs: Any) -> None:
        self.reference = reference
        self.shown_ids: frozenset[int] | None = None
        super().__init__(*args, **kwargs)

    def show_only(self, ids: frozenset[int] | None) -> None:
        """Offer the rows of these ids only (None: every row)."""
        self.shown_ids = ids
        # The widget's choices were bound to the field this one was copied from.
        self.widget.choices = self.choices

    def rows(self) -> tuple[reference.Row, ...]:
        rows = reference.rows(self.reference)
        if self.shown_ids is None:
            return rows
        return tuple(row for row in rows if row.id in self.shown_ids)


class ReferenceChoiceFilter(DisplayNameChoiceFilter):
    """A choice of a reference table (`districts.reference.TABLES`), as a select: the whole
    table, or with `shown_ids` (a function of the request giving ids, or None for all) the
    rows the user may choose, the same as the filter's queryset."""

    field_class = ReferenceChoiceField

    def __init__(self, *args: Any, shown_ids: Callable[[Any], Any] | None = None, **kwargs):
        self.shown_ids = shown_ids
        super().__init__(*args, **kwargs)


class PickerChoiceFilter(django_filters.ModelChoiceFilter):
    """A model choice with many options, as a searchable picker (`issues.pickers`): the page
    carries only the chosen value, never the list."""

    field_class = PickerChoiceField

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, kind=kind, **kwargs)


class AnyChoiceFilter(django_filters.ChoiceFilter):
    """A single choice whose empty option reads "any" rather than dashes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("empty_label", ANY_LABEL)
        kwargs.setdefault("widget", FastSelect)
        super().__init__(*args, **kwargs)


class CampaignDateFilter(django_filters.DateFilter):
    """A date filter that refuses dates outside the campaign's years with a form error."""

    field_class = CampaignDateField


def local_day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of a day in the current time zone, as an aware datetime."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class IssueFilterForm(civic_forms.Form):
    """The filter form's own fields (sort, page size) and cross-field checks (date ranges)."""

    sort = forms.ChoiceField(
        label=_("Sort"), choices=SORT_CHOICES, required=False, widget=FastSelect
    )
    per_page = forms.TypedChoiceField(
        label=_("Rows per page"),
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PAGE_SIZE,
        widget=FastSelect,
    )

    DATE_RANGES = (
        ("reported_from", "reported_to"),
        ("dispatched_from", "dispatched_to"),
        ("closed_from", "closed_to"),
        ("deadline_from", "deadline_to"),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for start_name, end_name in self.DATE_RANGES:
            start, end = cleaned.get(start_name), cleaned.get(end_name)
            if start and end and start > end:
                self.add_error(end_name, _("The end date is before the start date."))
        return cleaned


class IssueFilterSet(civic_forms.FilterSet):
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
    district = ReferenceChoiceFilter(
        label=_("District"),
        queryset=_district_choices,
        reference="district",
        shown_ids=lambda request: policy.district_ids_in_scope(request.user),
    )
    community = PickerChoiceFilter(
        label=_("Community"), queryset=_community_choices, kind="community"
    )
    point_type = ReferenceChoiceFilter(
        label=_("Point type"),
        field_name="point__point_type",
        queryset=_point_type_choices,
        reference="point_type",
    )
    point = PickerChoiceFilter(label=_("Inspection point"), queryset=_point_choices, kind="point")
    category = ReferenceChoiceFilter(
        label=_("Category"), queryset=_category_choices, reference="category"
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"),
        choices=Status.choices,
        method="filter_status",
        widget=FastCheckboxSelectMultiple,
        distinct=False,
    )
    organisation = PickerChoiceFilter(
        label=_("Organisation"),
        field_name="assigned_organisation",
        queryset=_organisation_choices,
        kind="organisation",
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
        widget=FastCheckboxSelectMultiple,
        distinct=False,
    )
    rework = AnyChoiceFilter(
        label=_("Sent back for rework"), choices=BOOLEAN_CHOICES, method="filter_rework"
    )
    big_class = AnyChoiceFilter(
        label=_("Big class"), field_name="category__big_class", choices=Category.BigClass.choices
    )
    timeliness = AnyChoiceFilter(
        label=_("Timeliness"), choices=TIMELINESS_CHOICES, method="filter_timeliness"
    )
    fixed_on_spot = AnyChoiceFilter(
        label=_("Fixed on the spot"), choices=BOOLEAN_CHOICES, method="filter_fixed_on_spot"
    )
    extended = AnyChoiceFilter(
        label=_("Extension granted"), choices=BOOLEAN_CHOICES, method="filter_extended"
    )
    redirected = AnyChoiceFilter(
        label=_("Returned or reassigned"), choices=BOOLEAN_CHOICES, method="filter_redirected"
    )
    returned = AnyChoiceFilter(
        label=_("Returned as not ours"), choices=BOOLEAN_CHOICES, method="filter_returned"
    )
    extension_pending = AnyChoiceFilter(
        label=_("Extension request waiting"),
        choices=BOOLEAN_CHOICES,
        method="filter_extension_pending",
    )
    # Plain text matched in SQL: an unknown user name lists nothing, exactly like a real user
    # with no reports, so the filter never tells which accounts exist.
    reporter = django_filters.CharFilter(
        label=_("Reporter (user name)"),
        field_name="reporter__username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    reported_from = CampaignDateFilter(
        label=_("Reported from"), field_name="reported_at", method="filter_from", widget=DateInput
    )
    reported_to = CampaignDateFilter(
        label=_("Reported until"), field_name="reported_at", method="filter_to", widget=DateInput
    )
    dispatched_from = CampaignDateFilter(
        label=_("Dispatched from"),
        field_name="dispatched_at",
        method="filter_from",
        widget=DateInput,
    )
    dispatched_to = CampaignDateFilter(
        label=_("Dispatched until"),
        field_name="dispatched_at",
        method="filter_to",
        widget=DateInput,
    )
    closed_from = CampaignDateFilter(
        label=_("Closed from"), field_name="closed_at", method="filter_from", widget=DateInput
    )
    closed_to = CampaignDateFilter(
        label=_("Closed until"), field_name="closed_at", method="filter_to", widget=DateInput
    )
    deadline_from = CampaignDateFilter(
        label=_("Deadline from"), field_name="deadline", method="filter_from", widget=DateInput
    )
    deadline_to = CampaignDateFilter(
        label=_("Deadline until"), field_name="deadline", method="filter_to", widget=DateInput
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
        self.search_alternatives: list[Q] = []
        # Set by the list page, whose pager applies the search (`issues.paging.paginate`).
        self.search_in_pager = False

    # ---- the form ----
    # django-filter builds a form class for every filterset (thirty fields, each with its
    # widget), and every form copies the fields again. Only the scoped choice lists differ from
    # one request to the next: the class is built once per filterset class with those lists
    # empty, and each form gets its user's querysets.

    @classmethod
    def _shared_form_class(cls) -> type[forms.Form]:
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            fields = {}
            for name, filter_ in cls.base_filters.items():
                unbound = copy.deepcopy(filter_)
                if isinstance(unbound, QuerySetRequestMixin):
                    unbound.queryset = unbound.extra["queryset"] = None
                fields[name] = unbound.field
            form_class = type(f"{cls.__name__}Form", (cls._meta.form,), fields)
            cls._form_class = form_class
        return form_class

    def get_form_class(self) -> type[forms.Form]:
        return self._shared_form_class()

    @property
    def form(self) -> forms.Form:
        if not hasattr(self, "_form"):
            form = super().form
            for name, filter_ in self.filters.items():
                if not isinstance(filter_, QuerySetRequestMixin):
                    continue
                field = form.fields[name]
                if isinstance(field, civic_forms.QuerysetWhenCheckedMixin):
                    # Pickers and cached reference rows: built only to check a value.
                    field.set_queryset_later(partial(filter_.get_queryset, self.request))
                    shown_ids = getattr(filter_, "shown_ids", None)
                    if shown_ids is not None:
                        field.show_only(shown_ids(self.request))
                else:
                    field.queryset = filter_.get_queryset(self.request)
        return self._form

    # ---- filter methods ----

    def filter_search(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        self.search_alternatives = search.conditions(value, queryset.db)
        if not self.search_alternatives or self.search_in_pager:
            # The list's pager applies them: it reads each alternative's first rows on its own.
            return queryset
        return queryset.filter(search.any_of(self.search_alternatives))

    def filter_status(
        self, queryset: QuerySet[Issue], name: str, value: list[str]
    ) -> QuerySet[Issue]:
        return queryset.filter(status__in=value)

    def filter_escalation_level(
        self, queryset: QuerySet[Issue], name: str, value: list[str]
    ) -> QuerySet[Issue]:
        return queryset.filter(escalation_level__in=[int(level) for level in value])

    def filter_overdue(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        overdue = overdue_q(self.now)
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)

    def filter_rework(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        if value == "true":
            return queryset.filter(rework_count__gt=0)
        return queryset.filter(rework_count=0)

    def filter_returned(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        return queryset.filter(returned_q() if value == "true" else ~returned_q())

    def filter_extension_pending(
        self, queryset: QuerySet[Issue], name: str, value: str
    ) -> QuerySet[Issue]:
        wanted = pending_extension_q()
        return queryset.filter(wanted if value == "true" else ~wanted)

    def filter_timeliness(
        self, queryset: QuerySet[Issue], name: str, value: str
    ) -> QuerySet[Issue]:
        closed_on_time = Q(status=Status.CLOSED, closed_at__lte=F("deadline"))
        closed_late = Q(status=Status.CLOSED, closed_at__gt=F("deadline"))
        if value == "on_time":
            return queryset.filter(closed_on_time)
        if value == "closed_late":
            return queryset.filter(closed_late)
        return queryset.filter(closed_late | Q(status__in=CLOCK_STATUSES, deadline__lt=self.now))

    def filter_fixed_on_spot(
        self, queryset: QuerySet[Issue], name: str, value: str
    ) -> QuerySet[Issue]:
        return queryset.filter(fixed_on_spot=value == "true")

    def filter_extended(self, queryset: QuerySet[Issue], name: str, value: str) -> QuerySet[Issue]:
        if value == "true":
            return queryset.filter(extension_count__gt=0)
        return queryset.filter(extension_count=0)

    def filter_redirected(
        self, queryset: QuerySet[Issue], name: str, value: str
    ) -> QuerySet[Issue]:
        """Cases an organisation handed back (回退) or a supervisor reassigned, ever."""
        redirected = Exists(
            IssueEvent.objects.filter(
                issue=OuterRef("pk"), action__in=(Action.RETURN, Action.REASSIGN)
            )
        )
        return queryset.filter(redirected if value == "true" else ~redirected)

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
            + ExpressionWrapper(allowed * TIMER_YELLOW_FROM, output_field=DurationField()),
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
