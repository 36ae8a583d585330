"""Admin for reminders: channel settings with masked secrets, and the read-only delivery log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from reminders import services
from reminders.forms import ChannelConfigForm, mask_url
from reminders.models import ChannelConfig, Delivery, Reminder


@admin.register(ChannelConfig)
class ChannelConfigAdmin(admin.ModelAdmin):
    """Channel settings: only superusers add or change them.

    A webhook URL decides where the server sends requests, so it is a server setting rather
    than reference data: zone admins (whose role grants the app's permissions) see the
    settings with the secrets masked, and the delivery log, but cannot add, change or delete.
    """

    form = ChannelConfigForm
    list_display = [
        "__str__",
        "kind",
        "enabled",
        "webhook",
        "has_signing_secret",
        "quiet_hours",
        "rate_limit_per_minute",
    ]
    list_filter = ["kind", "enabled"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name", "organisation__name_en", "organisation__code"]
    autocomplete_fields: list[str] = []
    fieldsets = [
        (None, {"fields": ["organisation", "kind", "enabled"]}),
        (
            _("Robot"),
            {
                "fields": [
                    "webhook_url",
                    "clear_webhook_url",
                    "signing_secret",
                    "clear_signing_secret",
                    "keyword",
                ]
            },
        ),
        (_("E-mail"), {"fields": ["email_addresses"]}),
        (_("When"), {"fields": ["quiet_start", "quiet_end", "rate_limit_per_minute"]}),
    ]

    # What a reader who may not change the settings sees: the secrets only as masks.
    view_only_fieldsets = [
        (None, {"fields": ["organisation", "kind", "enabled"]}),
        (_("Robot"), {"fields": ["webhook", "has_signing_secret", "keyword"]}),
        (_("E-mail"), {"fields": ["email_addresses"]}),
        (_("When"), {"fields": ["quiet_hours", "rate_limit_per_minute"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return self.view_only_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return [
                field for _name, options in self.view_only_fieldsets for field in options["fields"]
            ]
        return super().get_readonly_fields(request, obj)

    @admin.display(description=_("webhook"))
    def webhook(self, config: ChannelConfig) -> str:
        return mask_url(config.webhook_url) or "—"

    @admin.display(description=_("signing secret"), boolean=True)
    def has_signing_secret(self, config: ChannelConfig) -> bool:
        return bool(config.signing_secret)

    @admin.display(description=_("quiet hours"))
    def quiet_hours(self, config: ChannelConfig) -> str:
        if config.quiet_start is None or config.quiet_end is None:
            return "—"
        return f"{config.quiet_start:%H:%M}–{config.quiet_end:%H:%M}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger and the log are written by the job only; admins read them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: every message owed, where it went, how often tried, and why it failed."""

    list_display = [
        "created_at",
        "state",
        "channel",
        "organisation",
        "target",
        "case",
        "kind",
        "attempts",
        "response_code",
        "error",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = [
        "state",
        "kind",
        "channel",
        ("organisation", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        ("sent_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "reminder__issue__case_number",
        "idempotency_key",
        "target_key",
        "last_error",
        "organisation__name",
        "user__username",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["organisation", "reminder__issue", "config__organisation", "user"]
    list_per_page = 100
    actions = ["retry_failed"]
    readonly_fields = [
        "kind",
        "reminder",
        "digest_date",
        "summary_token",
        "organisation",
        "channel",
        "config",
        "user",
        "target_key",
        "idempotency_key",
        "payload",
        "state",
        "attempts",
        "last_error",
        "response_code",
        "next_attempt_at",
        "created_at",
        "updated_at",
        "sent_at",
    ]

    @admin.display(description=_("target"))
    def target(self, delivery: Delivery) -> str:
        if delivery.user_id:
            return delivery.user.get_username()
        return str(delivery.config) if delivery.config_id else delivery.target_key

    @admin.display(description=_("case"), ordering="reminder__issue__case_number")
    def case(self, delivery: Delivery) -> str:
        if delivery.reminder_id:
            return delivery.reminder.issue.case_number
        if delivery.kind == Delivery.Kind.SUMMARY:
            count = len(delivery.payload.get("reminders", []))
            return ngettext("%(count)d case", "%(count)d cases", count) % {"count": count}
        return _("digest %(date)s") % {"date": delivery.digest_date}

    @admin.display(description=_("kind"))
    def kind(self, delivery: Delivery) -> str:
        if delivery.reminder_id:
            return f"{delivery.reminder.get_kind_display()} L{delivery.reminder.level}"
        return delivery.get_kind_display()

    @admin.display(description=_("last error"))
    def error(self, delivery: Delivery) -> str:
        return Truncator(delivery.last_error).chars(80)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("reminders.change_delivery")

    @admin.action(description=_("Send the selected failed deliveries again"), permissions=["retry"])
    def retry_failed(self, request, queryset: QuerySet[Delivery]) -> None:
        count = services.deliveries_retry(
            delivery_ids=queryset.values_list("pk", flat=True),
            actor=request.user,
            now=timezone.now(),
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery is queued again.",
                "%(count)d deliveries are queued again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "channel",
        "target_key",
        "state",
        "attempts",
        "response_code",
        "last_error",
        "sent_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "issue",
        "kind",
        "level",
        "deadline",
        "organisation",
        "state",
        "attempts",
        "sent_at",
    ]
    list_filter = [
        "state",
        "kind",
        "level",
        ("organisation", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["issue__case_number", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["issue", "organisation"]
    inlines = [DeliveryInline]
    readonly_fields = [
        "issue",
        "kind",
        "level",
        "deadline",
        "organisation",
        "district",
        "state",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "updated_at",
    ]
    exclude = ["claim_token"]
