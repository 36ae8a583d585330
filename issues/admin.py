"""Django admin for issues: a read-only window on cases, events and photos; the calendar editable.

Issues change only through `issues.services` (the workflow, its checks and its event log), so
the admin offers no add, change or delete for them or for their side records. The work calendar
is the one table edited here: that is how next year's holidays and 调休 days are entered.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from issues.models import (
    EVENT_ROLE_LABELS,
    NOTIFICATION_KIND_LABELS,
    CalendarDay,
    CaseCounter,
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    TimerLight,
)


class ReadOnlyAdminMixin:
    """Viewing only: the records are written by services and must stay as written."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _thumbnail(photo: Photo) -> str:
    try:
        url = reverse("issues:photo_thumb", kwargs={"pk": photo.pk})
    except NoReverseMatch:
        return "—"
    return format_html('<img src="{}" alt="" width="120" loading="lazy">', url)


class PhotoInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Photo
    fields = ["preview", "kind", "taken_at", "gps_latitude", "gps_longitude", "uploaded_by"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    ordering = ["created_at", "id"]

    @admin.display(description=_("photo"))
    def preview(self, obj: Photo) -> str:
        return _thumbnail(obj)


class IssueEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = IssueEvent
    fields = [
        "created_at",
        "action",
        "actor",
        "actor_role",
        "from_status",
        "to_status",
        "organisation",
        "new_deadline",
        "note",
    ]
    readonly_fields = fields
    extra = 0
    ordering = ["created_at", "id"]


class ExtensionRequestInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ExtensionRequest
    fields = ["created_at", "requested_by", "requested_deadline", "status", "decided_by", "reason"]
    readonly_fields = fields
    extra = 0


class EscalationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Escalation
    fields = ["created_at", "level", "source", "actor", "deadline", "note"]
    readonly_fields = fields
    extra = 0


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("overdue now"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.overdue(timezone.now())
        return queryset


@admin.register(Issue)
class IssueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cases for reference; every change goes through the workflow pages."""

    list_display = [
        "case_number",
        "status",
        "category",
        "district",
        "community",
        "point",
        "assigned_organisation",
        "deadline",
        "light",
        "escalation_level",
        "rework_count",
        "reported_at",
    ]
    list_filter = [
        OverdueFilter,
        "status",
        "severity",
        "escalation_level",
        "fixed_on_spot",
        "district",
        "category",
        "assigned_organisation__kind",
    ]
    search_fields = [
        "case_number",
        "description",
        "address",
        "community__name",
        "point__name",
        "assigned_organisation__name",
        "reporter__username",
        "reporter__first_name",
    ]
    list_select_related = [
        "category",
        "district",
        "community",
        "point",
        "assigned_organisation",
    ]
    date_hierarchy = "reported_at"
    inlines = [PhotoInline, IssueEventInline, ExtensionRequestInline, EscalationInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "zone",
                    "case_number",
                    "status",
                    "category",
                    "severity",
                    "description",
                    "duplicate_of",
                    "fixed_on_spot",
                ]
            },
        ),
        (
            _("Place"),
            {
                "fields": [
                    "district",
                    "community",
                    "point",
                    "address",
                    "latitude",
                    "longitude",
                    "location_accuracy_m",
                ]
            },
        ),
        (
            _("Responsibility and time limit"),
            {
                "fields": [
                    "reporter",
                    "assigned_organisation",
                    "assigned_person",
                    "clock_started_at",
                    "deadline",
                    "extension_count",
                    "escalation_level",
                    "rework_count",
                    "last_fix_by",
                    "park_review_date",
                ]
            },
        ),
        (
            _("Timeline"),
            {
                "fields": [
                    "reported_at",
                    "dispatched_at",
                    "acknowledged_at",
                    "first_submitted_at",
                    "submitted_at",
                    "verified_at",
                    "closed_at",
                    "rejected_at",
                    "parked_at",
                    "cancelled_at",
                    "updated_at",
                ]
            },
        ),
    ]

    @admin.display(description=_("timer"))
    def light(self, obj: Issue) -> str:
        light = obj.timer_light()
        if light is None:
            return "—"
        symbol = {TimerLight.GREEN: "🟢", TimerLight.YELLOW: "🟡", TimerLight.RED: "🔴"}[light]
        return f"{symbol} {TimerLight(light).label}"

    def view_on_site(self, obj: Issue) -> str:
        return obj.get_absolute_url()


class LabelledValueFilter(admin.SimpleListFilter):
    """A list filter over a text column whose values have words but no model choices."""

    labels: dict = {}

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in self.labels.items()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ActorRoleFilter(LabelledValueFilter):
    title = _("role")
    parameter_name = "actor_role"
    labels = EVENT_ROLE_LABELS


class NotificationKindFilter(LabelledValueFilter):
    title = _("kind")
    parameter_name = "kind"
    labels = NOTIFICATION_KIND_LABELS


@admin.register(IssueEvent)
class IssueEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The append-only event log."""

    list_display = [
        "created_at",
        "issue",
        "action",
        "actor",
        "role",
        "from_status",
        "to_status",
        "organisation",
    ]
    list_filter = ["action", ActorRoleFilter, "to_status"]

    @admin.display(description=_("role"), ordering="actor_role")
    def role(self, event: IssueEvent) -> str:
        return event.actor_role_label

    search_fields = ["issue__case_number", "note", "actor__username", "actor__first_name"]
    list_select_related = ["issue", "actor", "organisation"]
    date_hierarchy = "created_at"


@admin.register(Photo)
class PhotoAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "preview",
        "issue",
        "kind",
        "taken_at",
        "width",
        "height",
        "size_bytes",
        "uploaded_by",
        "created_at",
    ]
    list_filter = ["kind", "original_format"]
    search_fields = ["issue__case_number", "original_name", "sha256"]
    list_select_related = ["issue", "uploaded_by"]
    date_hierarchy = "created_at"
    exclude = ["image", "thumbnail"]
    readonly_fields = ["preview"]

    @admin.display(description=_("photo"))
    def preview(self, obj: Photo) -> str:
        return _thumbnail(obj)


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "issue",
        "status",
        "requested_by",
        "requested_deadline",
        "decided_by",
        "decided_at",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["issue__case_number", "reason", "decision_note"]
    list_select_related = ["issue", "requested_by", "decided_by"]
    date_hierarchy = "created_at"


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["issue", "level", "source", "actor", "deadline", "created_at"]
    list_filter = ["level", "source"]
    search_fields = ["issue__case_number", "note"]
    list_select_related = ["issue", "actor"]
    date_hierarchy = "created_at"


@admin.register(CaseCounter)
class CaseCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shown for reference: changing a counter by hand could hand out a number twice."""

    list_display = ["zone", "year", "last_value"]
    list_filter = ["zone", "year"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "about", "title", "issue", "read_at"]
    list_filter = [NotificationKindFilter]

    @admin.display(description=_("kind"), ordering="kind")
    def about(self, notification: Notification) -> str:
        return notification.kind_label

    search_fields = ["title", "body", "user__username", "issue__case_number"]
    list_select_related = ["user", "issue"]
    date_hierarchy = "created_at"


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Public holidays and make-up working days; weekdays not listed follow the weekday rule."""

    list_display = ["date", "weekday", "is_working_day", "name"]
    list_editable = ["is_working_day", "name"]
    list_filter = ["is_working_day"]
    search_fields = ["name"]
    date_hierarchy = "date"
    ordering = ["-date"]

    @admin.display(description=_("weekday"), ordering="date")
    def weekday(self, obj: CalendarDay) -> str:
        names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
        return str(names[obj.date.weekday()])
