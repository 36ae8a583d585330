"""Inspection rounds (巡查轮次 / 模拟测评): which points are walked, by whom, and what was found.

A round names its points (all of its districts' active points, or a seeded draw of N per point
type) and assigns each to one inspector or one supervision group. A visit is one walk of a round
point; its observations are the yes / no / not-applicable marks of the point type's standards.
Each observation copies the standard's text and weight as they were, so editing a standard later
never rewrites a past result.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import Category, CheckItem, District, InspectionPoint, Organisation


class Round(models.Model):
    """One inspection round over some districts' points, open while it is walked."""

    class Kind(models.TextChoices):
        ROUTINE = "routine", _("routine patrol (日常巡查)")
        MOCK = "mock", _("mock assessment (模拟测评)")
        RECHECK = "recheck", _("re-check (回头看)")

    class Status(models.TextChoices):
        PREPARING = "preparing", _("being prepared")
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    class Selection(models.TextChoices):
        ALL = "all", _("all points")
        DRAW = "draw", _("random draw per point type")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.ROUTINE)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    districts = models.ManyToManyField(District, verbose_name=_("districts"), related_name="+")
    selection = models.CharField(
        _("points"), max_length=8, choices=Selection, default=Selection.ALL
    )
    draw_per_type = models.PositiveIntegerField(_("points drawn per type"), null=True, blank=True)
    seed = models.BigIntegerField(_("draw seed"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.OPEN)
    # Who the points go to, kept so that a large round's draw and assignment can run in a task
    # (and be run again from the same seed) after the request that created it.
    inspectors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("inspectors"), blank=True, related_name="+"
    )
    groups = models.ManyToManyField(
        Organisation, verbose_name=_("supervision groups"), blank=True, related_name="+"
    )
    prepare_error = models.TextField(_("why the round could not be prepared"), blank=True)
    cloned_from = models.ForeignKey(
        "self",
        verbose_name=_("cloned from"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("inspection round")
        verbose_name_plural = _("inspection rounds")
        indexes = [models.Index(fields=["kind", "starts_on"], name="round_kind_start_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="round_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(selection="all") | (Q(draw_per_type__gte=1) & Q(seed__isnull=False)),
                name="round_draw_has_size_and_seed",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["preparing", "open"], closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="round_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_preparing(self) -> bool:
        return self.status == self.Status.PREPARING


class RoundPoint(models.Model):
    """A point of a round, assigned to exactly one inspector or one supervision group."""

    round = models.ForeignKey(
        Round, verbose_name=_("round"), on_delete=models.CASCADE, related_name="round_points"
    )
    point = models.ForeignKey(
        InspectionPoint, verbose_name=_("inspection point"), on_delete=models.PROTECT
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("inspector"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    group = models.ForeignKey(
        Organisation,
        verbose_name=_("supervision group"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Sums of the observations' snapshot weights, kept by the service that writes them, so the
    # results of a round of thousands of points read one row per point.
    met_weight = models.PositiveIntegerField(_("weighted met"), default=0)
    applicable_weight = models.PositiveIntegerField(_("weighted applicable"), default=0)
    marked = models.PositiveIntegerField(_("standards marked"), default=0)

    class Meta:
        ordering = ["round", "id"]
        verbose_name = _("round point")
        verbose_name_plural = _("round points")
        indexes = [
            models.Index(fields=["round", "inspector"], name="roundpoint_inspector_idx"),
            models.Index(fields=["round", "group"], name="roundpoint_group_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["round", "point"], name="roundpoint_unique_point"),
            models.CheckConstraint(
                condition=Q(inspector__isnull=False, group__isnull=True)
                | Q(inspector__isnull=True, group__isnull=False),
                name="roundpoint_one_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.round} · {self.point}"


class Visit(models.Model):
    """One walk of a round point: when, by whom and where the phone was."""

    round_point = models.OneToOneField(
        RoundPoint, verbose_name=_("round point"), on_delete=models.CASCADE, related_name="visit"
    )
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("inspector"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    distance_m = models.FloatField(_("distance from the point (m)"), null=True, blank=True)
    is_far = models.BooleanField(_("far from the point"), default=False)
    client_token = models.UUIDField(_("client token"), null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")

    def __str__(self) -> str:
        return str(self.round_point)


class Observation(models.Model):
    """A yes / no / n.a. mark of one standard at one round point, with the standard as it was."""

    class Result(models.TextChoices):
        MET = "yes", _("met")
        FAILED = "no", _("not met")
        NOT_APPLICABLE = "na", _("not applicable")

    round_point = models.ForeignKey(
        RoundPoint,
        verbose_name=_("round point"),
        on_delete=models.CASCADE,
        related_name="observations",
    )
    check_item = models.ForeignKey(
        CheckItem,
        verbose_name=_("standard"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    # The standard as it was when marked: a later edit never changes this result.
    text = models.CharField(_("standard"), max_length=200)
    weight = models.PositiveSmallIntegerField(_("weight"))
    category = models.ForeignKey(
        Category,
        verbose_name=_("linked issue category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    result = models.CharField(_("result"), max_length=4, choices=Result)
    note = models.CharField(_("note"), max_length=200, blank=True)
    photo = models.ImageField(_("photo"), upload_to="rounds/%Y/%m/", blank=True)
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("inspector"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    observed_at = models.DateTimeField(_("observed at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    client_token = models.UUIDField(_("client token"), unique=True)
    issue = models.OneToOneField(
        "issues.Issue",
        verbose_name=_("case filed"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="round_observation",
    )

    class Meta:
        ordering = ["round_point", "id"]
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        constraints = [
            models.UniqueConstraint(
                fields=["round_point", "check_item"], name="observation_one_per_standard"
            ),
            models.CheckConstraint(condition=Q(weight__gte=1), name="observation_weight_positive"),
        ]
        indexes = [
            # Failed standards of a round: the most failed, the repeat failures.
            models.Index(
                fields=["round_point", "check_item"],
                condition=Q(result="no"),
                name="observation_failed_idx",
            )
        ]

    def __str__(self) -> str:
        return self.text
