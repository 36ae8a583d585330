"""Django admin for the zone office: places, organisations, taxonomy, responsibility and staff.

Every add, change and deletion made here also writes an AuditEntry, so reference-data changes
stay on the record next to those made through the /manage/ tools.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from civicapp import forms as civic_forms
from districts.models import (
    AuditEntry,
    Category,
    CheckItem,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    PointType,
    Responsibility,
    Zone,
)
from districts.services import (
    audit_record,
    responsibility_assign,
    responsibility_end,
    responsibility_plan,
    responsibility_slot_filter,
    responsibility_validate_slot,
)

User = get_user_model()

admin.site.site_header = _("civicapp administration")
admin.site.site_title = _("civicapp administration")
admin.site.index_title = _("Zone office: reference data and staff")


class AuditedAdmin(admin.ModelAdmin):
    """Writes an AuditEntry next to Django's own admin log for every change."""

    def _audit(self, request, obj, action: str, summary: str, data: dict | None = None) -> None:
        audit_record(
            actor=request.user,
            action=action,
            object_type=obj._meta.model_name,
            object_id=obj.pk,
            summary=summary,
            data=data,
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "admin_add", f"{obj._meta.verbose_name}: {obj}")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(
            request,
            obj,
            "admin_change",
            f"{obj._meta.verbose_name}: {obj}",
            {"changes": message if isinstance(message, list) else str(message)},
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "admin_delete", f"{obj._meta.verbose_name}: {obj}")
        return super().log_deletions(request, queryset)


# --- Places -------------------------------------------------------------------------------


@admin.register(Zone)
class ZoneAdmin(AuditedAdmin):
    list_display = ["code", "name", "name_en"]
    search_fields = ["code", "name", "name_en"]


class CommunityInline(admin.TabularInline):
    model = Community
    fields = ["code", "name", "name_en", "kind", "households", "residents"]
    extra = 0
    show_change_link = True


@admin.register(District)
class DistrictAdmin(AuditedAdmin):
    list_display = ["name", "name_en", "code", "kind", "zone", "community_count", "sort_order"]
    list_filter = ["zone", "kind"]
    search_fields = ["code", "name", "name_en"]
    ordering = ["sort_order", "code"]
    inlines = [CommunityInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("zone")
            .annotate(community_total=Count("communities"))
        )

    @admin.display(description=_("communities"), ordering="community_total")
    def community_count(self, obj: District) -> int:
        return obj.community_total


class InspectionPointInline(admin.TabularInline):
    model = InspectionPoint
    fields = ["code", "name", "point_type", "address", "latitude", "longitude", "is_active"]
    autocomplete_fields = ["point_type"]
    extra = 0
    show_change_link = True


@admin.register(Community)
class CommunityAdmin(AuditedAdmin):
    list_display = ["name", "name_en", "code", "district", "kind", "households", "residents"]
    list_filter = ["district", "kind"]
    search_fields = ["code", "name", "name_en", "district__name"]
    list_select_related = ["district"]
    autocomplete_fields = ["district"]
    inlines = [InspectionPointInline]
    fieldsets = [
        (None, {"fields": ["district", "code", "name", "name_en", "kind"]}),
        (_("Population"), {"fields": ["households", "residents"]}),
        (_("Location (WGS84)"), {"fields": ["latitude", "longitude"]}),
    ]


class CheckItemInline(admin.TabularInline):
    model = CheckItem
    fields = [
        "text",
        "text_en",
        "weight",
        "category",
        "photo_required_on_fail",
        "is_active",
        "sort_order",
    ]
    autocomplete_fields = ["category"]
    extra = 1


@admin.register(PointType)
class PointTypeAdmin(AuditedAdmin):
    list_display = ["name", "name_en", "code", "check_item_count", "sort_order"]
    search_fields = ["code", "name", "name_en"]
    list_editable = ["sort_order"]
    inlines = [CheckItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(check_item_total=Count("check_items"))

    @admin.display(description=_("check items"), ordering="check_item_total")
    def check_item_count(self, obj: PointType) -> int:
        return obj.check_item_total


@admin.register(CheckItem)
class CheckItemAdmin(AuditedAdmin):
    list_display = [
        "text",
        "point_type",
        "weight",
        "category",
        "photo_required_on_fail",
        "is_active",
        "sort_order",
    ]
    list_filter = ["point_type", "is_active"]
    search_fields = ["text", "text_en", "point_type__name"]
    list_select_related = ["point_type", "category"]
    autocomplete_fields = ["point_type", "category"]


@admin.register(InspectionPoint)
class InspectionPointAdmin(AuditedAdmin):
    list_display = [
        "name",
        "code",
        "point_type",
        "community",
        "district_name",
        "address",
        "latitude",
        "longitude",
        "is_active",
    ]
    list_filter = ["is_active", "point_type", "community__district", "community"]
    search_fields = ["code", "name", "address", "community__name"]
    list_select_related = ["point_type", "community__district"]
    autocomplete_fields = ["point_type", "community"]
    fieldsets = [
        (None, {"fields": ["code", "name", "point_type", "community", "is_active"]}),
        (
            _("Location (WGS84, as phones report it)"),
            {"fields": ["address", "latitude", "longitude"]},
        ),
    ]

    @admin.display(description=_("district"), ordering="community__district__sort_order")
    def district_name(self, obj: InspectionPoint) -> str:
        return obj.community.district.name


# --- Organisations and responsibility -------------------------------------------------------


class ResponsibilityForm(civic_forms.ModelForm):
    """Checks a new assignment, or a new end date, the way the assignment services will."""

    class Meta:
        model = Responsibility
        fields = [
            "kind",
            "organisation",
            "district",
            "community",
            "point",
            "category",
            "lead_person",
            "lead_phone",
            "valid_from",
            "valid_to",
            "note",
            "correction_reason",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.instance.pk is None:
            slot = {
                name: cleaned.get(name) for name in ("district", "community", "point", "category")
            }
            responsibility_validate_slot(kind=cleaned.get("kind"), **slot)
            if cleaned.get("valid_from"):
                rows = Responsibility.objects.select_related("organisation").filter(
                    responsibility_slot_filter(kind=cleaned["kind"], **slot)
                )
                responsibility_plan(
                    slot_rows=rows,
                    valid_from=cleaned["valid_from"],
                    correction_reason=cleaned.get("correction_reason") or "",
                )
        valid_to = cleaned.get("valid_to")
        if "valid_to" in self.changed_data:
            valid_from = cleaned.get("valid_from") or self.instance.valid_from
            previous = self.instance.valid_to if self.instance.pk else None
            if valid_to is None and self.instance.pk:
                raise forms.ValidationError(
                    {"valid_to": _("An end date can be moved earlier but not removed.")}
                )
            if valid_to is not None and valid_from and valid_to <= valid_from:
                raise forms.ValidationError(
                    {"valid_to": _("The end date must be after the start date.")}
                )
            if valid_to is not None and previous is not None and valid_to >= previous:
                raise forms.ValidationError(
                    {"valid_to": _("An end date can only be moved earlier.")}
                )
        return cleaned


def _assign(request, row: Responsibility) -> Responsibility:
    """Create an assignment through the service, which ends whoever held the slot before."""
    created = responsibility_assign(
        actor=request.user,
        kind=row.kind,
        organisation=row.organisation,
        district=row.district,
        community=row.community,
        point=row.point,
        category=row.category,
        lead_person=row.lead_person,
        lead_phone=row.lead_phone,
        valid_from=row.valid_from,
        note=row.note,
        correction_reason=row.correction_reason,
    )
    if row.valid_to is not None:
        created = responsibility_end(
            actor=request.user, responsibility=created, valid_to=row.valid_to
        )
    return created


class ResponsibilityInline(admin.TabularInline):
    """Existing assignments show read-only: they are end-dated on their own page, not rewritten."""

    model = Responsibility
    form = ResponsibilityForm
    fk_name = "organisation"
    fields = [
        "kind",
        "district",
        "community",
        "point",
        "category",
        "lead_person",
        "lead_phone",
        "valid_from",
        "valid_to",
    ]
    autocomplete_fields = ["district", "community", "point", "category"]
    extra = 0
    show_change_link = True
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdmin):
    list_display = [
        "name",
        "name_en",
        "code",
        "kind",
        "parent",
        "district",
        "contact_name",
        "contact_phone",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "district"]
    search_fields = ["code", "name", "name_en", "contact_name"]
    list_select_related = ["parent", "district"]
    autocomplete_fields = ["parent", "district"]
    inlines = [ResponsibilityInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "name_en", "kind", "parent", "district", "is_active"]}),
        (_("Contact"), {"fields": ["contact_name", "contact_phone"]}),
    ]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Responsibility:
            return super().save_formset(request, form, formset, change)
        # New assignments go through the service (slot rules, ending the previous holder, audit).
        for row in formset.save(commit=False):
            if row.pk is None:
                _assign(request, row)
        return None


class CurrentFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "current"

    def lookups(self, request, model_admin):
        return [("yes", _("in force today")), ("no", _("ended or not yet started"))]

    def queryset(self, request, queryset):
        current = Responsibility.objects.current().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=current)
        if self.value() == "no":
            return queryset.exclude(pk__in=current)
        return queryset


@admin.register(Responsibility)
class ResponsibilityAdmin(AuditedAdmin):
    """Assignments are end-dated (valid until), never rewritten or deleted: history stays true."""

    list_display = [
        "kind",
        "organisation",
        "district",
        "community",
        "point",
        "category",
        "lead_person",
        "valid_from",
        "valid_to",
    ]
    list_filter = [CurrentFilter, "kind", "organisation__kind", "district", "category"]
    search_fields = [
        "organisation__name",
        "district__name",
        "community__name",
        "point__name",
        "category__name",
        "category__code",
        "lead_person",
    ]
    list_select_related = ["organisation", "district", "community", "point", "category"]
    autocomplete_fields = ["organisation", "district", "community", "point", "category"]
    date_hierarchy = "valid_from"
    form = ResponsibilityForm
    readonly_fields = ["created_by", "created_at", "ended_by", "ended_at"]
    fieldsets = [
        (None, {"fields": ["kind", "organisation"]}),
        (
            _("Scope"),
            {
                "fields": ["district", "community", "point", "category"],
                "description": _(
                    "Territorial: a district or one community. Paired: a community or one point. "
                    "Sector: a category, everywhere or in one district."
                ),
            },
        ),
        (_("Lead person"), {"fields": ["lead_person", "lead_phone"]}),
        (_("Effective dates"), {"fields": ["valid_from", "valid_to", "note", "correction_reason"]}),
        (_("Record"), {"fields": ["created_by", "created_at", "ended_by", "ended_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # Who answered for what, and since when, is history: only the end date may change.
            fields += ["kind", "organisation", "district", "community", "point", "category"]
            fields += ["valid_from"]
        return fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            created = _assign(request, obj)
            obj.pk, obj.created_by, obj.created_at = (
                created.pk,
                created.created_by,
                created.created_at,
            )
            return
        if "valid_to" in form.changed_data:
            responsibility_end(actor=request.user, responsibility=obj, valid_to=obj.valid_to)
        details = [
            name for name in ("lead_person", "lead_phone", "note") if name in form.changed_data
        ]
        if details:
            obj.save(update_fields=details)

    def log_addition(self, request, obj, message):
        # responsibility_assign has written the audit entry; keep only Django's own log.
        return admin.ModelAdmin.log_addition(self, request, obj, message)


# --- Taxonomy -------------------------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = [
        "code",
        "name",
        "name_en",
        "big_class",
        "severity",
        "time_limit",
        "owner_kind",
        "sector_hint",
        "on_spot_fix_allowed",
        "is_active",
        "sort_order",
    ]
    list_filter = [
        "is_active",
        "big_class",
        "severity",
        "owner_kind",
        "limit_unit",
        "on_spot_fix_allowed",
        "after_photo_required",
    ]
    search_fields = ["code", "name", "name_en", "sector_hint"]
    list_editable = ["is_active", "sort_order"]
    fieldsets = [
        (None, {"fields": ["code", "name", "name_en", "big_class", "severity", "is_active"]}),
        (_("Time limit"), {"fields": ["limit_value", "limit_unit"]}),
        (_("Responsibility"), {"fields": ["owner_kind", "sector_hint", "auto_dispatch"]}),
        (
            _("Closing rules"),
            {"fields": ["closing_condition", "after_photo_required", "on_spot_fix_allowed"]},
        ),
        (_("Reporting"), {"fields": ["quick_phrases", "sort_order"]}),
    ]

    @admin.display(description=_("time limit"), ordering="limit_value")
    def time_limit(self, obj: Category) -> str:
        return f"{obj.limit_value} {obj.get_limit_unit_display()}"


# --- Staff ----------------------------------------------------------------------------------


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "full_name", "role", "organisation", "scope", "phone"]
    list_filter = ["role", "all_districts", "districts", "organisation__kind"]
    search_fields = [
        "user__username",
        "user__first_name",
        "user__last_name",
        "organisation__name",
        "phone",
    ]
    list_select_related = ["user", "organisation"]
    autocomplete_fields = ["user", "organisation"]
    filter_horizontal = ["districts"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("districts")

    @admin.display(description=_("name"), ordering="user__first_name")
    def full_name(self, obj: Membership) -> str:
        return obj.user.get_full_name()

    @admin.display(description=_("scope"))
    def scope(self, obj: Membership) -> str:
        if obj.all_districts:
            return str(_("all districts"))
        return "、".join(district.name for district in obj.districts.all()) or "—"


class MembershipInline(admin.StackedInline):
    model = Membership
    fields = ["role", "organisation", "all_districts", "districts", "phone"]
    autocomplete_fields = ["organisation"]
    filter_horizontal = ["districts"]
    can_delete = False
    verbose_name_plural = _("staff membership")


# The zone office manages staff accounts and their role in one page.
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    inlines = [MembershipInline]
    list_display = [
        "username",
        "first_name",
        "last_name",
        "role",
        "organisation",
        "is_active",
        "is_superuser",
        "last_login",
    ]
    list_filter = ["is_active", "is_superuser", "membership__role", "membership__districts"]
    list_select_related = ["membership__organisation"]
    search_fields = ["username", "first_name", "last_name", "email", "membership__phone"]

    @admin.display(description=_("role"), ordering="membership__role")
    def role(self, obj) -> str:
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "—"

    @admin.display(description=_("organisation"), ordering="membership__organisation__name")
    def organisation(self, obj) -> str:
        membership = getattr(obj, "membership", None)
        return str(membership.organisation) if membership and membership.organisation else "—"


# --- Audit log ------------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log is a record: nobody adds, edits or deletes entries here."""

    list_display = ["created_at", "actor", "action", "object_type", "object_id", "change"]
    list_filter = ["action", "object_type"]
    search_fields = ["summary", "object_id", "actor__username"]

    @admin.display(description=_("summary"), ordering="summary")
    def change(self, entry: AuditEntry) -> str:
        return entry.display_summary

    list_select_related = ["actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
