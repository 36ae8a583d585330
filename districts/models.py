"""Places, organisations, taxonomy, responsibility and staff scope (docs/domain.md §2, §3, §6)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class BilingualNameMixin:
    """Reference data carries a Chinese name and an English one; show the active language's."""

    name: str
    name_en: str

    @property
    def display_name(self) -> str:
        language = translation.get_language() or settings.LANGUAGE_CODE
        if language.startswith("en") and self.name_en:
            return self.name_en
        return self.name


class Zone(models.Model):
    """A development zone or city: the unit that owns a case-number sequence."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("zone")
        verbose_name_plural = _("zones")

    def __str__(self) -> str:
        return self.name


class District(BilingualNameMixin, models.Model):
    """A street (街道) or town (镇) of the zone, run by a street office."""

    class Kind(models.TextChoices):
        STREET = "street", _("street (街道)")
        TOWN = "town", _("town (镇)")

    zone = models.ForeignKey(Zone, verbose_name=_("zone"), on_delete=models.PROTECT)
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.STREET)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("district")
        verbose_name_plural = _("districts")

    def __str__(self) -> str:
        return self.name


class Community(BilingualNameMixin, models.Model):
    """A community (社区) or village (村) inside one district."""

    class Kind(models.TextChoices):
        COMMUNITY = "community", _("community (社区)")
        VILLAGE = "village", _("village (村)")

    district = models.ForeignKey(
        District, verbose_name=_("district"), on_delete=models.PROTECT, related_name="communities"
    )
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.COMMUNITY)
    households = models.PositiveIntegerField(_("households"), null=True, blank=True)
    residents = models.PositiveIntegerField(_("residents"), null=True, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )

    class Meta:
        ordering = ["district__sort_order", "code"]
        verbose_name = _("community")
        verbose_name_plural = _("communities")

    def __str__(self) -> str:
        return self.name


class PointType(BilingualNameMixin, models.Model):
    """A kind of inspection point (table 6a), e.g. 农贸市场, with its check items."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("point type")
        verbose_name_plural = _("point types")

    def __str__(self) -> str:
        return self.name


class CheckItem(models.Model):
    """A yes/no standard (点位标准) an inspector checks at points of one type."""

    point_type = models.ForeignKey(
        PointType,
        verbose_name=_("point type"),
        on_delete=models.CASCADE,
        related_name="check_items",
    )
    text = models.CharField(_("standard"), max_length=200)
    text_en = models.CharField(_("English text"), max_length=300, blank=True)
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=1, help_text=_("How much the standard counts in a point's score.")
    )
    category = models.ForeignKey(
        "Category",
        verbose_name=_("linked issue category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The category of the case filed when this standard fails."),
    )
    photo_required_on_fail = models.BooleanField(_("photo required when failed"), default=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive standards are no longer checked.")
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["point_type", "sort_order", "id"]
        verbose_name = _("check item")
        verbose_name_plural = _("check items")
        constraints = [
            models.UniqueConstraint(
                fields=["point_type", "text"], name="checkitem_unique_text_per_type"
            ),
            models.CheckConstraint(condition=Q(weight__gte=1), name="checkitem_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.text


class InspectionPointQuerySet(models.QuerySet["InspectionPoint"]):
    def active(self) -> InspectionPointQuerySet:
        return self.filter(is_active=True)

    def within_box(
        self, *, latitude: float, longitude: float, radius_m: float
    ) -> InspectionPointQuerySet:
        """Points inside the bounding box of a circle; callers rank by true distance."""
        import math

        dlat = radius_m / 111_320
        dlng = radius_m / (111_320 * max(math.cos(math.radians(latitude)), 0.01))
        return self.filter(
            latitude__gte=latitude - dlat,
            latitude__lte=latitude + dlat,
            longitude__gte=longitude - dlng,
            longitude__lte=longitude + dlng,
        )


class InspectionPoint(models.Model):
    """A named place (点位) in a community that inspectors check: a market, an alley, a site."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    point_type = models.ForeignKey(
        PointType, verbose_name=_("point type"), on_delete=models.PROTECT, related_name="points"
    )
    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, related_name="points"
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    # WGS84 as phones report it; convert to GCJ-02 only when drawing on Chinese map tiles.
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6)
    is_active = models.BooleanField(_("active"), default=True)

    objects = InspectionPointQuerySet.as_manager()

    class Meta:
        ordering = ["community", "name"]
        verbose_name = _("inspection point")
        verbose_name_plural = _("inspection points")
        indexes = [models.Index(fields=["latitude", "longitude"], name="point_lat_lng_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="point_coordinates_in_range",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def district(self) -> District:
        return self.community.district


class Organisation(BilingualNameMixin, models.Model):
    """A responsible organisation (单位): street office, department, community office, company."""

    class Kind(models.TextChoices):
        STREET_OFFICE = "street_office", _("street office")
        DEPARTMENT = "department", _("zone department")
        COMMUNITY_OFFICE = "community_office", _("community office")
        ENTERPRISE = "enterprise", _("enterprise")
        PROPERTY_COMPANY = "property_company", _("property company")
        SUPERVISION_GROUP = "supervision_group", _("supervision group")
        OTHER = "other", _("other")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    district = models.ForeignKey(
        District,
        verbose_name=_("district"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organisations",
        help_text=_("For street and community offices: the district they belong to."),
    )
    contact_name = models.CharField(_("contact"), max_length=60, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="organisation_not_own_parent"
            )
        ]

    def __str__(self) -> str:
        return self.name


class OwnerKind(models.TextChoices):
    """The three kinds of responsibility (docs/domain.md §3)."""

    TERRITORIAL = "territorial", _("territorial (属地)")
    PAIRED = "paired", _("paired (包联)")
    SECTOR = "sector", _("sector (行业主管/兜底)")


class Severity(models.TextChoices):
    GENERAL = "general", _("general")
    MAJOR = "major", _("major")
    URGENT = "urgent", _("urgent")


class Category(BilingualNameMixin, models.Model):
    """An issue category (问题类别) with its deadline, usual owner and closing rules."""

    class BigClass(models.TextChoices):
        CITY_APPEARANCE = "city_appearance", _("city appearance (市容环境)")
        ADVERTISING = "advertising", _("advertising (宣传广告)")
        CONSTRUCTION = "construction", _("construction (施工管理)")
        STREET_ORDER = "street_order", _("street order (街面秩序)")
        EMERGENCY = "emergency", _("emergencies (突发事件)")
        EXTENDED = "extended", _("extended (扩展)")

    class LimitUnit(models.TextChoices):
        HOURS = "H", _("natural hours")
        WORKING_HOURS = "WH", _("working hours")
        WORKING_DAYS = "WD", _("working days")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    big_class = models.CharField(_("big class"), max_length=24, choices=BigClass)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity, default=Severity.GENERAL
    )
    limit_value = models.PositiveIntegerField(_("time limit"))
    limit_unit = models.CharField(_("time limit unit"), max_length=2, choices=LimitUnit)
    owner_kind = models.CharField(_("usual owner"), max_length=16, choices=OwnerKind)
    sector_hint = models.CharField(
        _("sector department (hint)"), max_length=60, blank=True, help_text=_("e.g. 交警, 住建")
    )
    closing_condition = models.CharField(_("closing condition"), max_length=60, blank=True)
    after_photo_required = models.BooleanField(_("after-photo required"), default=True)
    on_spot_fix_allowed = models.BooleanField(_("on-the-spot fix allowed"), default=False)
    auto_dispatch = models.BooleanField(
        _("dispatch automatically on report"),
        default=False,
        help_text=_("Send new reports straight to the organisation routing picks."),
    )
    quick_phrases = models.TextField(
        _("quick phrases"), blank=True, help_text=_("One phrase per line, offered when reporting.")
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.CheckConstraint(condition=Q(limit_value__gt=0), name="category_limit_positive")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_urgent(self) -> bool:
        return self.severity == Severity.URGENT

    @property
    def quick_phrase_list(self) -> list[str]:
        return [line.strip() for line in self.quick_phrases.splitlines() if line.strip()]


class ResponsibilityQuerySet(models.QuerySet["Responsibility"]):
    def current(self, on: datetime.date | None = None) -> ResponsibilityQuerySet:
        """Assignments in force on a day (today by default)."""
        day = on or timezone.localdate()
        return self.filter(valid_from__lte=day).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=day)
        )


class Responsibility(models.Model):
    """Who owns problems where: territorial, paired or sector; rows are end-dated, never rewritten.

    - territorial: an organisation owns a district or one community (no category);
    - paired: an organisation paired with a community or one point (no category);
    - sector: an organisation owns a category everywhere, or in one district.
    `valid_to` is exclusive: the assignment ends at the start of that day.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=OwnerKind)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="responsibilities",
    )
    district = models.ForeignKey(
        District, verbose_name=_("district"), on_delete=models.PROTECT, null=True, blank=True
    )
    community = models.ForeignKey(
        Community, verbose_name=_("community"), on_delete=models.PROTECT, null=True, blank=True
    )
    point = models.ForeignKey(
        InspectionPoint,
        verbose_name=_("inspection point"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, null=True, blank=True
    )
    lead_person = models.CharField(_("lead person"), max_length=60, blank=True)
    lead_phone = models.CharField(_("lead phone"), max_length=30, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until (exclusive)"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    # Why this assignment starts on a day already past and cut its predecessor there.
    correction_reason = models.CharField(_("correction reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("ended by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    objects = ResponsibilityQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "district", "community", "point", "category", "-valid_from"]
        verbose_name = _("responsibility")
        verbose_name_plural = _("responsibilities")
        indexes = [
            models.Index(
                fields=["kind", "community", "valid_from"], name="resp_kind_community_idx"
            ),
            models.Index(fields=["kind", "point", "valid_from"], name="resp_kind_point_idx"),
            models.Index(fields=["kind", "category", "valid_from"], name="resp_kind_category_idx"),
            models.Index(fields=["kind", "district", "valid_from"], name="resp_kind_district_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="responsibility_valid_range",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind=OwnerKind.TERRITORIAL,
                        category__isnull=True,
                        point__isnull=True,
                    )
                    & (Q(district__isnull=False) | Q(community__isnull=False))
                )
                | (
                    Q(kind=OwnerKind.PAIRED, category__isnull=True)
                    & (Q(community__isnull=False) | Q(point__isnull=False))
                )
                | Q(
                    kind=OwnerKind.SECTOR,
                    category__isnull=False,
                    community__isnull=True,
                    point__isnull=True,
                ),
                name="responsibility_shape_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.organisation} → {self.scope_label}"

    @property
    def scope_label(self) -> str:
        parts = [
            str(obj) for obj in (self.district, self.community, self.point, self.category) if obj
        ]
        return " / ".join(parts) or str(_("everywhere"))


class Role(models.TextChoices):
    """What a staff member does (docs/domain.md §2)."""

    INSPECTOR = "inspector", _("inspector")
    HANDLER = "handler", _("handler")
    SUPERVISOR = "supervisor", _("supervisor")
    ADMIN = "admin", _("admin")
    LEADER = "leader", _("leader")


class Membership(models.Model):
    """A user's role and scope: districts (or all of them) and, for handlers, an organisation."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="membership",
    )
    role = models.CharField(_("role"), max_length=16, choices=Role)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    districts = models.ManyToManyField(
        District, verbose_name=_("districts"), blank=True, related_name="members"
    )
    all_districts = models.BooleanField(
        _("all districts"), default=False, help_text=_("Scope covers the whole zone.")
    )
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    language = models.CharField(
        _("interface language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Empty: the browser's choice, Chinese by default."),
    )

    class Meta:
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        indexes = [models.Index(fields=["role", "organisation"], name="membership_role_org_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role=Role.HANDLER) | Q(organisation__isnull=False),
                name="membership_handler_has_organisation",
            ),
            # The zone office answers for everything: no admin is limited to some districts.
            models.CheckConstraint(
                condition=~Q(role=Role.ADMIN) | Q(all_districts=True),
                name="membership_admin_is_zone_wide",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class AuditAction(models.TextChoices):
    """What a change-log row records, in words for the change log and the admin."""

    RESPONSIBILITY_ASSIGN = "responsibility_assign", _("Responsibility assigned")
    RESPONSIBILITY_END = "responsibility_end", _("Responsibility ended")
    RESPONSIBILITY_WITHDRAW = "responsibility_withdraw", _("Scheduled responsibility withdrawn")
    STAFF_CREATE = "staff_create", _("Account created")
    STAFF_UPDATE = "staff_update", _("Account changed")
    STAFF_DISABLE = "staff_disable", _("Account disabled")
    STAFF_ENABLE = "staff_enable", _("Account enabled")
    IMPORT = "import", _("Import")


class AuditEntry(models.Model):
    """One change an admin made to reference data or staff, kept for the record; never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=40, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=60)
    object_id = models.CharField(_("object id"), max_length=60, blank=True)
    summary = models.CharField(_("summary"), max_length=300)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return self.summary

    @property
    def display_summary(self) -> str:
        """The summary in the reader's language, from the message and parameters it recorded."""
        recorded = (self.data or {}).get("_summary")
        if not isinstance(recorded, dict):
            return self.summary
        params = {
            key: gettext(value["msgid"]) if isinstance(value, dict) else str(value)
            for key, value in (recorded.get("params") or {}).items()
        }
        try:
            return gettext(recorded["message"]) % params if params else gettext(recorded["message"])
        except (KeyError, TypeError, ValueError):
            return self.summary


class LoginFailureCount(models.Model):
    """Failed logins of one throttle pool in its current window, shared by every worker.

    The key is an HMAC of the username, address or device, never the value itself. A row whose
    window has ended counts as zero and is reused or purged.
    """

    class Pool(models.TextChoices):
        USERNAME = "username", _("username, from browsers not trusted for it")
        ADDRESS = "address", _("network address")
        DEVICE = "device", _("trusted browser")

    pool = models.CharField(_("pool"), max_length=10, choices=Pool.choices)
    key = models.CharField(_("key"), max_length=64)
    window_started_at = models.DateTimeField(_("window started at"))
    failures = models.PositiveIntegerField(_("failures"), default=0)

    class Meta:
        verbose_name = _("login failure count")
        verbose_name_plural = _("login failure counts")
        constraints = [
            models.UniqueConstraint(fields=["pool", "key"], name="loginfailure_pool_key_unique")
        ]
        indexes = [models.Index(fields=["window_started_at"], name="loginfailure_window_idx")]

    def __str__(self) -> str:
        return f"{self.get_pool_display()}: {self.failures}"
