"""Forms of the issue pages: the phone report form and one form per workflow action.

Forms check the shape of the input; the services decide what is valid for the issue and put
their errors back on the form. Photos are decoded and re-encoded here (`prepare_photos`), before
any transaction opens, so a bad file never leaves half an action behind.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from civicapp.choices import ShortModelChoiceField
from districts import policy
from districts.models import (
    Category,
    Community,
    InspectionPoint,
    Organisation,
    Severity,
)
from districts.widgets import DateInput
from issues import workflow
from issues.models import Action, EscalationLevel, Issue
from issues.photos import PreparedPhoto, prepare_photos
from issues.pickers import PickerChoiceField, label_of
from issues.widgets import FastSelect
from issues.workflow import Transition

# Hidden fields the report page's script fills from the original photo's EXIF, one per photo
# and in the order of the files: the browser re-encodes photos to save mobile data, and the
# re-encoded JPEG has lost its EXIF block.
CLIENT_TAKEN_AT_FIELD = "photo_taken_at[]"
CLIENT_GPS_FIELD = "photo_gps[]"
# An ISO 8601 time with offset or a "lat,lng" pair is far shorter; longer is not ours.
CLIENT_VALUE_MAX_LENGTH = 64

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
SUGGESTED_DEADLINE = "deadline_suggested"


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that lets the user pick (or shoot) several photos at once."""

    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Several uploaded photos; each is validated and re-encoded by `prepare_photos`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        attrs = {"accept": "image/*", "capture": "environment", "multiple": True}
        kwargs.setdefault("widget", MultipleFileInput(attrs=attrs))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not files:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        limit = settings.PHOTO_MAX_PER_UPLOAD
        if len(files) > limit:
            raise ValidationError(
                _("At most %(limit)d photos can be sent at once."),
                code="too_many",
                params={"limit": limit},
            )
        return [super(MultiplePhotoField, self).clean(f, initial) for f in files]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL_FORMAT)


# Dates people may mean: far outside the campaign's years is a typo (9999-12-31 even overflows
# the day after it).
EARLIEST_DATE = datetime.date(2000, 1, 1)
LATEST_DATE = datetime.date(2099, 12, 31)


class CampaignDateField(forms.DateField):
    """A date between 2000 and 2099, refused in words otherwise."""

    widget = DateInput

    def validate(self, value: datetime.date | None) -> None:
        super().validate(value)
        if value is not None and not (EARLIEST_DATE <= value <= LATEST_DATE):
            raise forms.ValidationError(
                _("Choose a date between %(first)s and %(last)s."),
                code="date_out_of_range",
                params={"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()},
            )


def parse_client_taken_at(value: str) -> datetime.datetime | None:
    """A capture time sent by the browser (ISO 8601, local time unless an offset is given)."""
    if len(value) > CLIENT_VALUE_MAX_LENGTH:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
        if timezone.is_naive(moment):
            # EXIF DateTimeOriginal is the camera's wall-clock time; the zone's time is the
            # best guess.
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        earliest = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
        if moment < earliest or moment > timezone.now() + datetime.timedelta(days=1):
            return None
    except (ValueError, OverflowError):
        return None
    return moment


def parse_client_gps(value: str) -> tuple[Decimal, Decimal] | None:
    """A capture position sent by the browser as "lat,lng" in WGS-84 degrees."""
    parts = value.split(",")
    if len(value) > CLIENT_VALUE_MAX_LENGTH or len(parts) != 2:
        return None
    try:
        lat, lng = (Decimal(p.strip()).quantize(Decimal("0.000001")) for p in parts)
    except (InvalidOperation, ValueError):
        return None
    # "NaN" survives quantize, and comparing it raises: refuse it before any comparison.
    if not (lat.is_finite() and lng.is_finite()):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lat, lng


def with_client_metadata(
    photos: Sequence[PreparedPhoto], taken_at: Sequence[str], gps: Sequence[str]
) -> list[PreparedPhoto]:
    """Fill capture time and GPS from the browser's reading of the original file.

    Used only where the uploaded file itself carries none, which is the case for the copies the
    report page downscales in the browser; an upload's own EXIF always wins. The browser sends
    one value per photo, in file order; lists of another length cannot be matched to the photos
    and are ignored whole.
    """
    if len(taken_at) != len(photos):
        taken_at = ()
    if len(gps) != len(photos):
        gps = ()
    result = []
    for index, photo in enumerate(photos):
        changes: dict[str, Any] = {}
        if photo.taken_at is None and index < len(taken_at):
            moment = parse_client_taken_at(taken_at[index])
            if moment is not None:
                changes["taken_at"] = moment
        if photo.gps_latitude is None and photo.gps_longitude is None and index < len(gps):
            position = parse_client_gps(gps[index])
            if position is not None:
                changes["gps_latitude"], changes["gps_longitude"] = position
        result.append(dataclasses.replace(photo, **changes) if changes else photo)
    return result


def prepared_with_client_metadata(form: forms.Form, uploads: list) -> list[PreparedPhoto]:
    """Validate and re-encode a form's uploads, with the browser's capture metadata as fallback."""
    if not uploads:
        return []
    data = form.data
    return with_client_metadata(
        prepare_photos(uploads),
        data.getlist(CLIENT_TAKEN_AT_FIELD) if hasattr(data, "getlist") else [],
        data.getlist(CLIENT_GPS_FIELD) if hasattr(data, "getlist") else [],
    )


class IssueReportForm(civic_forms.Form):
    """The phone report: category, photos, place, description, severity, idempotency key."""

    category = forms.ModelChoiceField(
        label=_("What is the problem?"),
        queryset=Category.objects.filter(is_active=True),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a category."),
            # A report kept in the outbox may name a category retired since.
            "invalid_choice": _("This category is no longer in use. Choose another one."),
        },
    )
    photos = MultiplePhotoField(
        label=_("Photos"),
        error_messages={"required": _("Take or choose at least one photo of the problem.")},
    )
    # Pickers (`issues.pickers`): the page carries the chosen value, never every point.
    point = PickerChoiceField(
        label=_("Inspection point"),
        queryset=InspectionPoint.objects.none(),
        required=False,
        kind="point",
        reporting=True,
        error_messages={
            "invalid_choice": _(
                "This inspection point is no longer in use or not in your area. "
                "Choose another point or the community."
            )
        },
    )
    community = PickerChoiceField(
        label=_("Community"),
        queryset=Community.objects.none(),
        required=False,
        kind="community",
        reporting=True,
    )
    address = forms.CharField(label=_("Address or landmark"), max_length=200, required=False)
    latitude = forms.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=-90,
        max_value=90,
        required=False,
        widget=forms.HiddenInput,
    )
    longitude = forms.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=-180,
        max_value=180,
        required=False,
        widget=forms.HiddenInput,
    )
    accuracy_m = forms.FloatField(
        min_value=0, max_value=100_000, required=False, widget=forms.HiddenInput
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    severity = forms.ChoiceField(
        label=_("Severity"),
        choices=Severity.choices,
        required=False,
        widget=forms.RadioSelect,
        help_text=_("Leave it to use the category's usual severity."),
    )
    client_token = forms.UUIDField(widget=forms.HiddenInput)
    observed_at = forms.CharField(
        required=False, max_length=CLIENT_VALUE_MAX_LENGTH, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["point"].queryset = policy.reporting_points(user).select_related("community")
        self.fields["community"].queryset = policy.reporting_communities(user)

    def clean_latitude(self) -> Decimal | None:
        value = self.cleaned_data.get("latitude")
        return value.quantize(Decimal("0.000001")) if value is not None else None

    def clean_longitude(self) -> Decimal | None:
        value = self.cleaned_data.get("longitude")
        return value.quantize(Decimal("0.000001")) if value is not None else None

    def clean_photos(self) -> list[PreparedPhoto]:
        return prepared_with_client_metadata(self, self.cleaned_data.get("photos") or [])

    def clean_observed_at(self) -> datetime.datetime | None:
        return clean_observed_at(self.cleaned_data.get("observed_at") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        point = cleaned.get("point")
        community = cleaned.get("community")
        if point is not None:
            # The point decides the community; a different community chosen by hand is ignored.
            cleaned["community"] = point.community
        elif community is None and "point" not in self.errors and "community" not in self.errors:
            self.add_error(
                "point",
                _("Choose the inspection point, or at least the community, of the problem."),
            )
        if (cleaned.get("latitude") is None) != (cleaned.get("longitude") is None):
            cleaned["latitude"] = cleaned["longitude"] = cleaned["accuracy_m"] = None
        return cleaned

    def service_kwargs(self) -> dict[str, Any]:
        """Arguments for `services.issue_create`, from the cleaned data."""
        data = self.cleaned_data
        category = data["category"]
        return {
            "category": category,
            "description": data.get("description", ""),
            "severity": data.get("severity") or category.severity,
            "point": data.get("point"),
            "community": data.get("community"),
            "latitude": data.get("latitude"),
            "longitude": data.get("longitude"),
            "accuracy_m": data.get("accuracy_m"),
            "address": data.get("address", ""),
            "photos": data.get("photos", []),
            "client_token": data["client_token"],
            "observed_at": data.get("observed_at"),
        }


# ---------------------------------------------------------------------------------------------
# Workflow actions: one form class builds the inputs each action asks for.

# The order inputs appear in on an action's form.
INPUT_ORDER = (
    "organisation",
    "deadline",
    "category",
    "duplicate_of",
    "requested_deadline",
    "review_date",
    "level",
    "photos",
    "reason",
    "note",
)
# Inputs a service takes that the transitions table does not list (it lists what people type).
EXTRA_INPUTS: dict[str, tuple[str, ...]] = {Action.ESCALATE: ("level",)}
# Inputs that are always required when offered.
ALWAYS_REQUIRED = frozenset({"level"})
# Actions taken in the field that the phone may send later from its outbox: their forms carry
# a client token (a resend records the action once) and the capture time.
REPLAYABLE_ACTIONS = frozenset({Action.SUBMIT_FIX, Action.VERIFY_PASS, Action.VERIFY_FAIL})


def clean_observed_at(value: str) -> datetime.datetime | None:
    """The capture time a phone form sends along; an unreadable or absurd one is ignored."""
    return parse_client_taken_at(value) if value else None


class IssueActionForm(civic_forms.Form):
    """The inputs of one workflow action on one issue, built from the transitions table."""

    def __init__(
        self,
        *args: Any,
        transition: Transition,
        issue: Issue,
        user,
        suggested_organisation: Organisation | None = None,
        suggested_deadline: datetime.datetime | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("prefix", transition.action)
        super().__init__(*args, **kwargs)
        self.transition = transition
        self.action = transition.action
        self.issue = issue
        self.user = user
        requires = workflow.required_inputs(transition, issue) | ALWAYS_REQUIRED
        offered = (
            set(transition.requires)
            | set(transition.optional)
            | set(EXTRA_INPUTS.get(transition.action, ()))
        )
        names = [n for n in INPUT_ORDER if n in offered]
        names += sorted(offered - set(names))
        for name in names:
            self.fields[name] = self._make_field(name, name in requires)
        if transition.action in REPLAYABLE_ACTIONS:
            self.fields["client_token"] = forms.UUIDField(
                required=False, widget=forms.HiddenInput, initial=uuid.uuid4
            )
            self.fields["observed_at"] = forms.CharField(
                required=False, max_length=CLIENT_VALUE_MAX_LENGTH, widget=forms.HiddenInput
            )
        if "level" in self.fields:
            self.fields["level"].initial = min(issue.escalation_level + 1, EscalationLevel.LISTED)
        if "organisation" in self.fields and suggested_organisation is not None:
            field = self.fields["organisation"]
            field.initial = suggested_organisation.pk
            if not self.is_bound:
                field.widget.selected_label = label_of(suggested_organisation, field.kind)
        if "deadline" in self.fields:
            # The suggestion travels with the form: sent back untouched, it means "the usual
            # deadline", computed by the service when the action happens, not when the page
            # was drawn (a page left open for an hour would otherwise shorten the time).
            self.fields[SUGGESTED_DEADLINE] = forms.CharField(
                required=False, widget=forms.HiddenInput
            )
            if suggested_deadline is not None:
                local = timezone.localtime(suggested_deadline).replace(second=0, microsecond=0)
                self.fields["deadline"].initial = local
                self.fields[SUGGESTED_DEADLINE].initial = local.strftime(DATETIME_LOCAL_FORMAT)

    def _make_field(self, name: str, required: bool) -> forms.Field:
        if name == "reason":
            return forms.CharField(
                label=_("Reason"),
                max_length=2000,
                required=required,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        if name == "note":
            return forms.CharField(
                label=_("Note"),
                max_length=2000,
                required=required,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        if name == "organisation":
            # A picker, not a <select> of every organisation: the page weighs the same for 60
            # organisations and for 600 (the typed name, "name [code]" or id resolves).
            return PickerChoiceField(
                label=_("Organisation"),
                queryset=Organisation.objects.filter(is_active=True),
                kind="organisation",
                required=required,
            )
        if name in ("deadline", "requested_deadline"):
            return forms.DateTimeField(
                label=_("Deadline") if name == "deadline" else _("New deadline requested"),
                required=required,
                widget=DateTimeLocalInput(),
                input_formats=[DATETIME_LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
            )
        if name == "photos":
            return MultiplePhotoField(label=_("Photos"), required=required)
        if name == "review_date":
            return CampaignDateField(label=_("Review date"), required=required)
        if name == "duplicate_of":
            return forms.CharField(
                label=_("Case number of the original issue"),
                max_length=20,
                required=required,
                widget=forms.TextInput(attrs={"placeholder": "2026-000123", "inputmode": "text"}),
            )
        if name == "category":
            return ShortModelChoiceField(
                label=_("Category"),
                queryset=Category.objects.filter(is_active=True),
                required=required,
                widget=FastSelect,
            )
        if name == "level":
            return forms.TypedChoiceField(
                label=_("Escalation level"),
                choices=[(c.value, c.label) for c in EscalationLevel if c.value > 0],
                coerce=int,
                required=required,
            )
        return forms.CharField(label=name, required=required)

    def clean_deadline(self) -> datetime.datetime | None:
        value = self.cleaned_data.get("deadline")
        sent = self.data.get(self.add_prefix("deadline"), "")
        if sent and sent == self.data.get(self.add_prefix(SUGGESTED_DEADLINE)):
            return None  # the untouched suggestion: the service computes it now
        if value is not None and value <= timezone.now():
            raise ValidationError(_("The deadline must be in the future."), code="past")
        return value

    def clean_requested_deadline(self) -> datetime.datetime | None:
        value = self.cleaned_data.get("requested_deadline")
        if value is not None and value <= timezone.now():
            raise ValidationError(_("The new deadline must be in the future."), code="past")
        return value

    def clean_review_date(self) -> datetime.date | None:
        value = self.cleaned_data.get("review_date")
        if value is not None and value <= timezone.localdate():
            raise ValidationError(_("The review date must be after today."), code="past")
        return value

    def clean_duplicate_of(self) -> Issue | None:
        number = (self.cleaned_data.get("duplicate_of") or "").strip()
        if not number:
            return None
        original = (
            Issue.objects.visible_to(self.user)
            .filter(case_number=number, zone_id=self.issue.zone_id)
            .exclude(pk=self.issue.pk)
            .first()
        )
        if original is None:
            raise ValidationError(
                _("No other issue with the case number %(number)s was found."),
                code="not_found",
                params={"number": number},
            )
        return original

    def clean_photos(self) -> list[PreparedPhoto]:
        return prepared_with_client_metadata(self, self.cleaned_data.get("photos") or [])

    def clean_observed_at(self) -> datetime.datetime | None:
        return clean_observed_at(self.cleaned_data.get("observed_at") or "")

    def service_kwargs(self) -> dict[str, Any]:
        """The cleaned inputs as service keyword arguments; empty optional ones are left out."""
        result = {}
        for name, value in self.cleaned_data.items():
            if name == SUGGESTED_DEADLINE:
                continue
            if value in (None, "", []) and not self.fields[name].required:
                continue
            result[name] = value
        return result
