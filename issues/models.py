"""Issues (案件), their photos, their append-only event log and side records (docs/domain.md §4)."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from civicapp.db import Prepared
from districts import policy
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    Role,
    Severity,
    Zone,
)
from issues import search


class Status(models.TextChoices):
    """The states of an issue; moves between them are listed in `issues.workflow`."""

    REPORTED = "reported", _("reported")
    ASSIGNED = "assigned", _("assigned")
    IN_PROGRESS = "in_progress", _("in progress")
    SUBMITTED = "submitted", _("awaiting verification")
    PARKED = "parked", _("parked")
    CLOSED = "closed", _("closed")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")


OPEN_STATUSES = (
    Status.REPORTED,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.SUBMITTED,
    Status.PARKED,
)
# The organisation's clock runs in these states; overdue is judged only here.
CLOCK_STATUSES = (Status.ASSIGNED, Status.IN_PROGRESS)
# These states always have an organisation and a deadline.
DISPATCHED_STATUSES = (Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED, Status.PARKED)


class Action(models.TextChoices):
    """Everything that can happen to an issue; each writes one IssueEvent."""

    REPORT = "report", _("report")
    DISPATCH = "dispatch", _("dispatch")
    REJECT = "reject", _("reject")
    MARK_DUPLICATE = "mark_duplicate", _("mark duplicate")
    FIX_ON_SPOT = "fix_on_spot", _("fix on the spot")
    ACKNOWLEDGE = "acknowledge", _("acknowledge")
    RETURN = "return", _("return as not ours")
    REASSIGN = "reassign", _("reassign")
    SUBMIT_FIX = "submit_fix", _("submit fix")
    VERIFY_PASS = "verify_pass", _("verification passed")
    VERIFY_FAIL = "verify_fail", _("verification failed (rework)")
    PARK = "park", _("park")
    RESUME = "resume", _("resume")
    CANCEL = "cancel", _("cancel")
    REOPEN = "reopen", _("reopen")
    REQUEST_EXTENSION = "request_extension", _("request extension")
    APPROVE_EXTENSION = "approve_extension", _("approve extension")
    REFUSE_EXTENSION = "refuse_extension", _("refuse extension")
    ESCALATE = "escalate", _("escalate")
    CHANGE_CATEGORY = "change_category", _("change category")


class EscalationLevel(models.IntegerChoices):
    NONE = 0, _("none")
    REMINDER = 1, _("reminder (催办)")
    SUPERVISION_LETTER = 2, _("supervision letter (督办函)")
    LISTED = 3, _("listed for supervision (挂牌督办)")


def overdue_q(now: datetime.datetime) -> Q:
    """The one condition of "overdue": the organisation's clock runs and the deadline passed.

    Home tiles, the list's filter, the reminder job and `Issue.is_overdue` all mean this.
    """
    return Q(status__in=CLOCK_STATUSES, deadline__lt=now)


# The share of the allowed time after which the timer light turns yellow (docs/domain.md §4); red
# from 100 %. `Issue.timer_light` and the list's light filter read it.
TIMER_YELLOW_FROM = 0.8


class TimerLight(models.TextChoices):
    GREEN = "green", _("green")
    YELLOW = "yellow", _("yellow")
    RED = "red", _("red")


def returned_q() -> Q:
    """The case was returned (回退) at least once: an EXISTS on the event log's issue index."""
    return Q(
        Exists(IssueEvent.objects.filter(issue_id=OuterRef("pk"), action=Action.RETURN).order_by())
    )


def pending_extension_q() -> Q:
    """An extension request waits for a decision (the partial unique index serves it)."""
    return Q(
        Exists(
            ExtensionRequest.objects.filter(
                issue_id=OuterRef("pk"), status=ExtensionRequest.Status.PENDING
            ).order_by()
        )
    )


class IssueQuerySet(models.QuerySet["Issue"]):
    def visible_to(self, user) -> IssueQuerySet:
        """Issues the user may see: the same rule as `issues.permissions.can_view`, in SQL."""
        if policy.covers_all_districts(user):
            return self.all()
        membership = policy.membership_of(user)
        if membership is None or not policy.is_active_user(user):
            return self.none()
        if membership.role == Role.HANDLER:
            return self.filter(assigned_organisation_id=membership.organisation_id)
        # The ids as literals, not a subquery: PostgreSQL then knows how much of the table they
        # hold and reads the district's own index in the list's order.
        in_districts = Q(district__in=sorted(policy.district_ids(membership)))
        if membership.role == Role.INSPECTOR:
            return self.filter(in_districts | Q(reporter=user))
        return self.filter(in_districts)

    def returned(self) -> IssueQuerySet:
        """Issues some organisation handed back as not theirs (回退) at least once."""
        return self.filter(returned_q())

    def with_pending_extension(self) -> IssueQuerySet:
        """Issues whose organisation asked for a later deadline that awaits a decision."""
        return self.filter(pending_extension_q())

    def open(self) -> IssueQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, now: datetime.datetime | None = None) -> IssueQuerySet:
        """Issues whose organisation's clock runs and whose deadline has passed."""
        return self.filter(overdue_q(now or timezone.now()))

    def search(self, text: str) -> IssueQuerySet:
        """Issues matching a search text as people type it (`issues.search`); blank text
        leaves the queryset as it is."""
        return search.apply(self, text)

    def with_list_related(self) -> IssueQuerySet:
        """The related rows a list or card shows, in the same query.

        Not the reporter, which no list shows (the CSV export adds it): planning the join of
        seven tables took PostgreSQL 5-10 ms, longer than running it; six take 2-3 ms.
        """
        return self.select_related(
            "district", "community", "point", "category", "assigned_organisation"
        )


class Issue(models.Model):
    """One reported civic problem (案件), from the report to its closure."""

    zone = models.ForeignKey(Zone, verbose_name=_("zone"), on_delete=models.PROTECT)
    case_number = models.CharField(_("case number"), max_length=20, editable=False)
    year = models.PositiveSmallIntegerField(_("year"), editable=False)
    district = models.ForeignKey(District, verbose_name=_("district"), on_delete=models.PROTECT)
    community = models.ForeignKey(Community, verbose_name=_("community"), on_delete=models.PROTECT)
    point = models.ForeignKey(
        InspectionPoint,
        verbose_name=_("inspection point"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT)
    description = models.TextField(_("description"), blank=True)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    location_accuracy_m = models.FloatField(_("GPS accuracy (m)"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        on_delete=models.PROTECT,
        related_name="reported_issues",
    )
    assigned_organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("assigned organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_issues",
    )
    assigned_person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned person"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_issues",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.REPORTED)
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    clock_started_at = models.DateTimeField(
        _("clock started at"),
        null=True,
        blank=True,
        help_text=_("Start of the organisation's allowed time, the basis of the timer light."),
    )
    rework_count = models.PositiveSmallIntegerField(_("rework count"), default=0)
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), choices=EscalationLevel, default=EscalationLevel.NONE
    )
    extension_count = models.PositiveSmallIntegerField(_("extensions granted"), default=0)
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
    )
    fixed_on_spot = models.BooleanField(_("fixed on the spot"), default=False)
    last_fix_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("fix submitted by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    park_review_date = models.DateField(_("park review date"), null=True, blank=True)
    client_token = models.UUIDField(
        _("client token"),
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("Idempotency key sent by the report form, so a double tap files one issue."),
    )

    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    observed_at = models.DateTimeField(
        _("observed at"),
        null=True,
        blank=True,
        help_text=_(
            "When the inspector captured the report on the phone; the report time is when the "
            "server received it (later, for a report sent from the outbox)."
        ),
    )
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("fix submitted at"), null=True, blank=True)
    first_submitted_at = models.DateTimeField(_("first fix submitted at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rejected_at = models.DateTimeField(_("rejected at"), null=True, blank=True)
    parked_at = models.DateTimeField(_("parked at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = IssueQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at", "-id"]
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        constraints = [
            models.UniqueConstraint(
                fields=["zone", "case_number"], name="issue_case_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="issue_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=DISPATCHED_STATUSES)
                | Q(assigned_organisation__isnull=False, deadline__isnull=False),
                name="issue_dispatched_has_organisation_and_deadline",
            ),
            models.CheckConstraint(
                condition=Q(escalation_level__gte=0, escalation_level__lte=3),
                name="issue_escalation_level_range",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True)
                | Q(latitude__gte=-90, latitude__lte=90, longitude__gte=-180, longitude__lte=180),
                name="issue_coordinates_in_range",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="issue_coordinates_paired",
            ),
            models.CheckConstraint(
                condition=~Q(duplicate_of=models.F("id")), name="issue_not_duplicate_of_itself"
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.CLOSED) | Q(closed_at__isnull=False),
                name="issue_closed_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["-reported_at", "-id"], name="issue_reported_idx"),
            models.Index(fields=["-updated_at", "-id"], name="issue_updated_idx"),
            models.Index(fields=["status", "-reported_at"], name="issue_status_reported_idx"),
            models.Index(
                fields=["district", "status", "-reported_at"],
                name="issue_open_district_idx",
                condition=Q(status__in=OPEN_STATUSES),
            ),
            models.Index(
                fields=["assigned_organisation", "status", "deadline"],
                name="issue_org_status_deadline_idx",
            ),
            models.Index(
                fields=["deadline", "id"],
                name="issue_clock_deadline_idx",
                condition=Q(status__in=CLOCK_STATUSES),
            ),
            models.Index(
                fields=["submitted_at", "id"],
                name="issue_awaiting_verify_idx",
                condition=Q(status=Status.SUBMITTED),
            ),
            # Every status of one district (supervisors, inspectors) or one organisation
            # (handlers) newest first: a district's list, and its text search, reads the
            # district's rows in order instead of the whole zone's.
            models.Index(
                fields=["district", "-reported_at", "-id"], name="issue_district_reported_idx"
            ),
            models.Index(
                fields=["assigned_organisation", "-reported_at", "-id"],
                name="issue_org_reported_idx",
            ),
            # The other sorts of one district's or organisation's cases, every status: without
            # them a supervisor's list by deadline walked the zone's index and threw away the
            # other districts' rows (254 read for 21), and a search by latest deadline read
            # 5 312 at 1 000 000 issues (the text's bitmap had no range of the district's to
            # meet). One index serves both directions of a sort.
            *[
                models.Index(fields=[scope, field, "id"], name=f"issue_{short}_{column}_idx")
                for scope, short in (("district", "district"), ("assigned_organisation", "org"))
                for field, column in (("deadline", "dl"), ("updated_at", "upd"))
            ],
            models.Index(fields=["reporter", "-reported_at"], name="issue_reporter_idx"),
            # With the id, in the list's exact order: a search naming a community, point or
            # category reads its first rows from here in order (no sort of all its rows).
            models.Index(
                fields=["community", "-reported_at", "-id"], name="issue_community_rep_idx"
            ),
            models.Index(fields=["point", "-reported_at", "-id"], name="issue_point_rep_idx"),
            models.Index(fields=["category", "-reported_at", "-id"], name="issue_category_rep_idx"),
            # The list's deadline sorts over every status (the clock index above covers only
            # running clocks); its empty deadlines, read by id, are the end of the same index.
            models.Index(fields=["deadline", "id"], name="issue_deadline_idx"),
            # "Closed from/until" filters and the leaders' "closed in the last 30 days" tile.
            models.Index(fields=["closed_at"], name="issue_closed_idx"),
            # The open work (a few per cent of the table) in every order the list offers: a list
            # restricted to open statuses reads these, not the whole history backwards.
            *[
                models.Index(
                    fields=[*prefix, field, "id"],
                    name=f"issue_open_{name}_idx",
                    condition=Q(status__in=OPEN_STATUSES),
                )
                for field, short in (
                    ("reported_at", "rep"),
                    ("deadline", "dl"),
                    ("updated_at", "upd"),
                )
                for prefix, name in (
                    ((), short),
                    (("assigned_organisation",), f"org_{short}"),
                    # A district's open work in order: its text search reads the district's
                    # rows, not the zone's (3 123 rows read for 井盖 at 1 000 000 before).
                    (("district",), f"dist_{short}"),
                )
            ],
        ]

    def __str__(self) -> str:
        return self.case_number

    def get_absolute_url(self) -> str:
        return reverse("issues:issue_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, now: datetime.datetime | None = None) -> bool:
        return (
            self.status in CLOCK_STATUSES
            and self.deadline is not None
            and self.deadline < (now or timezone.now())
        )

    def elapsed_fraction(self, now: datetime.datetime | None = None) -> float | None:
        """Share of the allowed time used, in natural time; None when no clock runs."""
        if self.status not in CLOCK_STATUSES or not self.deadline or not self.clock_started_at:
            return None
        allowed = (self.deadline - self.clock_started_at).total_seconds()
        if allowed <= 0:
            return float("inf")
        return ((now or timezone.now()) - self.clock_started_at).total_seconds() / allowed

    def timer_light(self, now: datetime.datetime | None = None) -> str | None:
        """Green below 80 % of the allowed time, yellow to 100 %, red past it; never stored."""
        fraction = self.elapsed_fraction(now)
        if fraction is None:
            return None
        if fraction < TIMER_YELLOW_FROM:
            return TimerLight.GREEN
        if fraction <= 1.0:
            return TimerLight.YELLOW
        return TimerLight.RED


# The rows a list or a card shows, by id (`civicapp.db.rows_by_id`), compiled once.
LIST_ROWS: Prepared[Issue] = Prepared(
    lambda ids: Issue.objects.with_list_related().filter(pk__in=ids).order_by()
)


def photo_upload_path(photo: Photo, filename: str) -> str:
    now = timezone.now()
    return f"photos/{now:%Y/%m}/{uuid.uuid4().hex}.jpg"


def thumbnail_upload_path(photo: Photo, filename: str) -> str:
    now = timezone.now()
    return f"thumbs/{now:%Y/%m}/{uuid.uuid4().hex}.jpg"


class Photo(models.Model):
    """A photo of an issue, re-encoded without metadata; capture time and GPS kept in fields."""

    class Kind(models.TextChoices):
        BEFORE = "before", _("before")
        AFTER = "after", _("after")
        CHECK = "check", _("verification")

    issue = models.ForeignKey(
        Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="photos"
    )
    event = models.ForeignKey(
        "IssueEvent",
        verbose_name=_("event"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="photos",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind)
    image = models.FileField(_("image"), upload_to=photo_upload_path, max_length=200)
    thumbnail = models.FileField(_("thumbnail"), upload_to=thumbnail_upload_path, max_length=200)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    size_bytes = models.PositiveIntegerField(_("stored size"))
    sha256 = models.CharField(_("SHA-256 of the upload"), max_length=64)
    original_name = models.CharField(_("original file name"), max_length=200, blank=True)
    original_format = models.CharField(_("original format"), max_length=10, blank=True)
    taken_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    gps_latitude = models.DecimalField(
        _("GPS latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    gps_longitude = models.DecimalField(
        _("GPS longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["issue", "kind", "created_at", "id"]
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        indexes = [models.Index(fields=["issue", "kind"], name="photo_issue_kind_idx")]

    def __str__(self) -> str:
        return f"{self.issue} {self.get_kind_display()} #{self.pk}"


class IssueEvent(models.Model):
    """One thing that happened to an issue; appended, never edited or deleted."""

    issue = models.ForeignKey(
        Issue, verbose_name=_("issue"), on_delete=models.PROTECT, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty for the system (reminder job)."),
    )
    actor_role = models.CharField(_("role"), max_length=16, blank=True)
    action = models.CharField(_("action"), max_length=24, choices=Action)
    from_status = models.CharField(_("from"), max_length=16, choices=Status, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=Status)
    note = models.TextField(_("note"), blank=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    old_deadline = models.DateTimeField(_("old deadline"), null=True, blank=True)
    new_deadline = models.DateTimeField(_("new deadline"), null=True, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    observed_at = models.DateTimeField(
        _("observed at"),
        null=True,
        blank=True,
        help_text=_("When the person captured it on the phone, if it was sent later."),
    )
    client_token = models.UUIDField(
        _("client token"),
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("Idempotency key of a replayed phone form, so a resend records it once."),
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("issue event")
        verbose_name_plural = _("issue events")
        indexes = [models.Index(fields=["issue", "created_at", "id"], name="event_issue_time_idx")]

    def __str__(self) -> str:
        return f"{self.issue} {self.get_action_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Issue events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Issue events are append-only.")

    @property
    def actor_role_label(self) -> str:
        """The role the actor acted in, in words ("" when unknown)."""
        return str(EVENT_ROLE_LABELS.get(self.actor_role, ""))

    @property
    def escalation_label(self) -> str:
        """For an escalation, the level it raised the case to in words (催办, 督办函, 挂牌督办)."""
        level = (self.data or {}).get("level") if self.action == Action.ESCALATE else None
        if level not in EscalationLevel.values:
            return ""
        return str(EscalationLevel(level).label)


class ExtensionRequest(models.Model):
    """A request by the organisation for a later deadline (延期), decided by a supervisor."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    issue = models.ForeignKey(
        Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="extension_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(_("reason"))
    requested_deadline = models.DateTimeField(_("requested deadline"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")
        constraints = [
            models.UniqueConstraint(
                fields=["issue"],
                condition=Q(status="pending"),
                name="extension_one_pending_per_issue",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="extension_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.issue} → {self.requested_deadline:%Y-%m-%d %H:%M}"


class Escalation(models.Model):
    """An escalation (督办) of an issue to a level, by the reminder job or by hand."""

    class Source(models.TextChoices):
        JOB = "job", _("reminder job")
        MANUAL = "manual", _("by hand")

    issue = models.ForeignKey(
        Issue, verbose_name=_("issue"), on_delete=models.CASCADE, related_name="escalations"
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=EscalationLevel)
    source = models.CharField(_("source"), max_length=8, choices=Source)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    deadline = models.DateTimeField(_("deadline escalated against"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.CheckConstraint(
                condition=Q(level__gte=1, level__lte=3), name="escalation_level_range"
            ),
            models.UniqueConstraint(
                fields=["issue", "level", "deadline"],
                condition=Q(source="job"),
                name="escalation_job_once_per_deadline",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.issue} {self.get_level_display()}"


class CaseCounter(models.Model):
    """The last case number handed out in a zone and year; incremented under a row lock."""

    zone = models.ForeignKey(Zone, verbose_name=_("zone"), on_delete=models.CASCADE)
    year = models.PositiveSmallIntegerField(_("year"))
    last_value = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("case counter")
        verbose_name_plural = _("case counters")
        constraints = [
            models.UniqueConstraint(fields=["zone", "year"], name="casecounter_zone_year_unique")
        ]

    def __str__(self) -> str:
        return f"{self.zone} {self.year}: {self.last_value}"


class OpenStock(models.Model):
    """How many cases share one combination of the home pages' figures in one district or one
    organisation: the open work by status and flag, and recent closures by day (`issues.stock`).
    """

    class Axis(models.TextChoices):
        DISTRICT = "district", _("district")
        ORGANISATION = "organisation", _("organisation")

    axis = models.CharField(max_length=12, choices=Axis)
    # The district's or the assigned organisation's id.
    key = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status)
    escalated = models.BooleanField(default=False)
    reworked = models.BooleanField(default=False)
    returned = models.BooleanField(default=False)
    extension_pending = models.BooleanField(default=False)
    # The clock runs and the deadline is before the mark (`OpenStockMark`).
    overdue_at_mark = models.BooleanField(default=False)
    # The local day of a closure; empty for open work.
    closed_day = models.DateField(null=True, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("open stock count")
        verbose_name_plural = _("open stock counts")
        indexes = [models.Index(fields=["axis", "key"], name="openstock_axis_key_idx")]

    def __str__(self) -> str:
        return f"{self.axis} {self.key} {self.status}: {self.count}"


class OpenStockMark(models.Model):
    """The one moment up to which `OpenStock` counts passed deadlines; moved by its rebuild."""

    marked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("open stock mark")
        verbose_name_plural = _("open stock marks")

    def __str__(self) -> str:
        return f"{self.marked_at:%Y-%m-%d %H:%M}"


class CalendarDay(models.Model):
    """An exception to the weekday rule: a public holiday, or a make-up working day (调休)."""

    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(
        _("working day"), help_text=_("Ticked for a make-up working day on a weekend.")
    )
    name = models.CharField(_("name"), max_length=60, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("work calendar")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class NotificationQuerySet(models.QuerySet["Notification"]):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


# What a notification is about, in words: the action that caused it, or a reminder the job sent
# (the job writes "reminder_<kind>" and "digest"; `issues` names them without importing it).
NOTIFICATION_KIND_LABELS = {
    **{action.value: action.label for action in Action},
    "digest": _("reminder summary"),
    "reminder_due_soon": _("reminder: due soon"),
    "reminder_overdue": _("reminder: overdue (催办)"),
    "reminder_escalation": _("reminder: escalation (督办)"),
    "reminder_awaiting_verification": _("reminder: awaiting verification"),
}
# Who wrote an event when nobody did: auto-dispatch, the reminder job.
EVENT_ROLE_LABELS = {**{role.value: role.label for role in Role}, "system": _("system")}


def is_site_path(value: str) -> bool:
    """Whether `value` is a path on this site from its root: never another site's address.

    `//host`, `/\\host` and control characters (a browser drops a tab inside `/\t/host`) would
    all lead elsewhere; Django's own check refuses them, given no host at all to allow.
    """
    return (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and url_has_allowed_host_and_scheme(value, allowed_hosts=set())
    )


def validate_site_path(value: str) -> None:
    """Refuse a link that is not a path on this site (see `is_site_path`)."""
    if value and not is_site_path(value):
        raise ValidationError(
            _("Give a path on this site that starts with a single /."), code="not_site_path"
        )


class Notification(models.Model):
    """An in-app notification for one user (the bell), about one issue or linking to one page."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    issue = models.ForeignKey(
        Issue,
        verbose_name=_("issue"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    event = models.ForeignKey(
        IssueEvent,
        verbose_name=_("event"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=32)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    link = models.CharField(
        _("link"),
        max_length=300,
        blank=True,
        validators=[validate_site_path],
        help_text=_("A page on this site the notification opens, e.g. a filtered issue list."),
    )
    dedupe_key = models.CharField(
        _("deduplication key"),
        max_length=120,
        blank=True,
        help_text=_("Set by senders that must notify once, e.g. the reminder ledger."),
    )
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="notification_user_idx"),
            # The bell's list pages by id: without it PostgreSQL walked the whole table's
            # primary key backwards for a user with few notifications among many.
            models.Index(fields=["user", "-id"], name="notification_user_id_idx"),
            models.Index(
                fields=["user"],
                name="notification_unread_idx",
                condition=Q(read_at__isnull=True),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event"],
                condition=Q(event__isnull=False),
                name="notification_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_once_per_key",
            ),
            # Senders insert rows in bulk, past the validator: the database keeps links on site.
            models.CheckConstraint(
                condition=Q(link="")
                | (Q(link__startswith="/") & ~Q(link__startswith="//") & ~Q(link__contains="\\")),
                name="notification_link_on_site",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def kind_label(self) -> str:
        """What the notification is about, in words."""
        return str(NOTIFICATION_KIND_LABELS.get(self.kind, _("notification")))
