"""The campaign office's ranking settings and the frozen weekly 红黑榜 (docs/domain.md §7)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import District, Organisation


def _first_of_year() -> datetime.date:
    return timezone.localdate().replace(month=1, day=1)


class RankingSettings(models.Model):
    """The one row of settings admins edit for the 红黑榜 and the dashboards' campaign period."""

    campaign_start = models.DateField(
        _("campaign start"),
        default=_first_of_year,
        help_text=_("The first day of the 'campaign to date' period on the dashboards."),
    )
    list_size = models.PositiveSmallIntegerField(
        _("units on each list"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("The top N ranked units go on the red list, the bottom N on the black list."),
    )
    minimum_due = models.PositiveSmallIntegerField(
        _("minimum cases due"),
        default=5,
        validators=[MinValueValidator(1)],
        help_text=_("A unit with fewer cases due in the week is listed but not ranked."),
    )
    weight_on_time = models.DecimalField(
        _("weight of the on-time closure rate"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    weight_overdue = models.DecimalField(
        _("weight of the overdue rate"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    weight_rework = models.DecimalField(
        _("weight of the rework rate"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Score = on-time weight × on-time rate − overdue weight × overdue rate − rework "
            "weight × rework rate. Ties break on fewer overdue cases, then the lower rework rate."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ranking settings")
        verbose_name_plural = _("ranking settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rankingsettings_single")]

    def __str__(self) -> str:
        return str(_("Ranking settings"))

    @classmethod
    def load(cls) -> RankingSettings:
        """The settings row, created with the defaults on first use."""
        settings, _created = cls.objects.get_or_create(pk=1)
        return settings

    def snapshot(self) -> dict:
        return {
            "list_size": self.list_size,
            "minimum_due": self.minimum_due,
            "weight_on_time": str(self.weight_on_time),
            "weight_overdue": str(self.weight_overdue),
            "weight_rework": str(self.weight_rework),
        }


class WeeklyRanking(models.Model):
    """One published 红黑榜 of an ISO week, for organisations or for districts; never changed."""

    class Kind(models.TextChoices):
        ORGANISATION = "organisation", _("organisations")
        DISTRICT = "district", _("districts")

    week_start = models.DateField(_("week (Monday)"))
    kind = models.CharField(_("ranked units"), max_length=16, choices=Kind)
    settings = models.JSONField(_("settings used"), default=dict)
    frozen_at = models.DateTimeField(_("frozen at"), default=timezone.now)

    class Meta:
        ordering = ["-week_start", "kind"]
        verbose_name = _("weekly ranking")
        verbose_name_plural = _("weekly rankings")
        constraints = [
            models.UniqueConstraint(fields=["week_start", "kind"], name="ranking_once_per_week"),
            models.CheckConstraint(
                condition=Q(week_start__week_day=2), name="ranking_week_starts_monday"
            ),
        ]

    def __str__(self) -> str:
        year, week, _weekday = self.week_start.isocalendar()
        return f"{year}-W{week:02d} {self.get_kind_display()}"

    def get_absolute_url(self) -> str:
        return f"{reverse('stats:ranking')}?week={self.week_label}"

    @property
    def week_label(self) -> str:
        year, week, _weekday = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def week_end(self) -> datetime.date:
        return self.week_start + datetime.timedelta(days=6)


class RankingEntry(models.Model):
    """One unit's figures and place in a frozen weekly ranking."""

    class Board(models.TextChoices):
        RED = "red", _("red list")
        BLACK = "black", _("black list")
        NONE = "", _("neither")

    ranking = models.ForeignKey(
        WeeklyRanking, verbose_name=_("ranking"), on_delete=models.CASCADE, related_name="entries"
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    district = models.ForeignKey(
        District,
        verbose_name=_("district"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    label = models.CharField(_("unit"), max_length=200)
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    board = models.CharField(_("list"), max_length=8, choices=Board, blank=True, default="")
    due = models.PositiveIntegerField(_("cases due"))
    closed_on_time = models.PositiveIntegerField(_("closed on time"))
    late = models.PositiveIntegerField(_("overdue"))
    verified = models.PositiveIntegerField(_("fixes verified"))
    reworked = models.PositiveIntegerField(_("reworked"))
    on_time_rate = models.FloatField(_("on-time closure rate"), null=True, blank=True)
    rework_rate = models.FloatField(_("rework rate"), null=True, blank=True)
    score = models.FloatField(_("score"), null=True, blank=True)

    class Meta:
        ordering = ["ranking", models.F("rank").asc(nulls_last=True), "label"]
        verbose_name = _("ranking entry")
        verbose_name_plural = _("ranking entries")
        constraints = [
            models.CheckConstraint(
                condition=Q(organisation__isnull=True, district__isnull=False)
                | Q(organisation__isnull=False, district__isnull=True),
                name="ranking_entry_one_unit",
            ),
            models.UniqueConstraint(
                fields=["ranking", "organisation"], name="ranking_entry_organisation_once"
            ),
            models.UniqueConstraint(
                fields=["ranking", "district"], name="ranking_entry_district_once"
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "ranking"], name="ranking_entry_org_idx"),
            models.Index(fields=["district", "ranking"], name="ranking_entry_district_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ranking} {self.label} #{self.rank or '-'}"


def ledger_upload_path(export: LedgerExport, filename: str) -> str:
    return f"ledgers/{timezone.now():%Y/%m}/ledger-{export.pk}-{export.token}.xlsx"


class LedgerExport(models.Model):
    """A 整改台账 workbook built in the background for one user's filtered list."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("being built")
        DONE = "done", _("ready")
        FAILED = "failed", _("failed")

    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    query = models.TextField(_("list filters"), blank=True)
    token = models.CharField(_("token"), max_length=32, editable=False)
    status = models.CharField(_("status"), max_length=8, choices=Status, default=Status.PENDING)
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to=ledger_upload_path, max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger export")
        verbose_name_plural = _("ledger exports")

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M} {self.get_status_display()}"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(self.done * 100 / self.total))


# --- the daily rollup of the figures (stats.rollup keeps it) -----------------------------------

# Counts of cases per cohort day: the cohort of each column is in stats.rollup.
ROLLUP_COUNTS = (
    "reported",
    "accepted",
    "rejected",
    "fixed_on_spot",
    "dispatched",
    "returned",
    "due",
    "due_closed",
    "closed_on_time",
    "closed_late",
    "extended",
    "closed",
    "verified",
    "reworked",
)
# The durations of stats.kpis.DURATIONS, each with its sample count, sums of natural and working
# hours, and a histogram of each over these upper bucket edges (hours; the last bucket is open).
ROLLUP_DURATIONS = (
    "report_to_dispatch",
    "dispatch_to_acknowledge",
    "dispatch_to_fix",
    "fix_to_verify",
)
HISTOGRAM_EDGES = (0.25, 0.5, 1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 240, 480)
HISTOGRAM_BUCKETS = len(HISTOGRAM_EDGES) + 1


def rollup_time_columns(duration: str) -> dict[str, list[str]]:
    """The column names of one duration: samples, sums, natural and working histograms."""
    return {
        "samples": [f"{duration}_samples"],
        "sums": [f"{duration}_hours", f"{duration}_working_hours"],
        "natural": [f"{duration}_h{index}" for index in range(HISTOGRAM_BUCKETS)],
        "working": [f"{duration}_w{index}" for index in range(HISTOGRAM_BUCKETS)],
    }


class KpiDay(models.Model):
    """The figures of one local day for one district, big class and organisation: additive
    counts of each cohort whose date falls on the day, and time sums and histograms."""

    day = models.DateField(_("day"))
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, related_name="+", verbose_name=_("district")
    )
    big_class = models.CharField(_("big class"), max_length=32)
    # The case's organisation id, 0 for none: a plain number keeps the key unique without
    # NULLs (SQLite has no NULLS NOT DISTINCT) and the reads free of joins.
    organisation_key = models.IntegerField(_("organisation"), default=0)

    class Meta:
        verbose_name = _("daily figures")
        verbose_name_plural = _("daily figures")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "district", "big_class", "organisation_key"],
                name="kpiday_unique_key",
            )
        ]
        indexes = [models.Index(fields=["district", "day"], name="kpiday_district_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.district_id} {self.big_class} {self.organisation_key}"


class KpiMonth(models.Model):
    """The sums of a calendar month's KpiDay rows for one district, big class and organisation
    (long periods read whole months here and only their ragged ends day by day)."""

    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, related_name="+", verbose_name=_("district")
    )
    big_class = models.CharField(_("big class"), max_length=32)
    organisation_key = models.IntegerField(_("organisation"), default=0)

    class Meta:
        verbose_name = _("monthly figures")
        verbose_name_plural = _("monthly figures")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "district", "big_class", "organisation_key"],
                name="kpimonth_unique_key",
            )
        ]
        indexes = [models.Index(fields=["district", "month"], name="kpimonth_district_idx")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.district_id} {self.big_class} {self.organisation_key}"


class KpiWeek(models.Model):
    """The counts of an ISO week's KpiDay rows for one district, big class and organisation
    (the weekly trends read whole weeks here; no times, so the rows stay narrow)."""

    week = models.DateField(_("week"), help_text=_("The Monday of the week."))
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, related_name="+", verbose_name=_("district")
    )
    big_class = models.CharField(_("big class"), max_length=32)
    organisation_key = models.IntegerField(_("organisation"), default=0)

    class Meta:
        verbose_name = _("weekly figures")
        verbose_name_plural = _("weekly figures")
        constraints = [
            models.UniqueConstraint(
                fields=["week", "district", "big_class", "organisation_key"],
                name="kpiweek_unique_key",
            )
        ]
        indexes = [models.Index(fields=["district", "week"], name="kpiweek_district_idx")]

    def __str__(self) -> str:
        return f"{self.week} {self.district_id} {self.big_class} {self.organisation_key}"


for _column in ROLLUP_COUNTS:
    KpiWeek.add_to_class(_column, models.IntegerField(default=0))
for _model in (KpiDay, KpiMonth):
    for _column in ROLLUP_COUNTS:
        _model.add_to_class(_column, models.IntegerField(default=0))
    for _duration in ROLLUP_DURATIONS:
        _columns = rollup_time_columns(_duration)
        for _column in _columns["samples"] + _columns["natural"] + _columns["working"]:
            _model.add_to_class(_column, models.IntegerField(default=0))
        for _column in _columns["sums"]:
            _model.add_to_class(_column, models.FloatField(default=0.0))
