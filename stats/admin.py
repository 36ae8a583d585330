"""The 红黑榜 settings in the Django admin; published rankings are shown, never edited."""

from __future__ import annotations

from django.contrib import admin

from districts.admin import AuditedAdmin
from stats.models import RankingEntry, RankingSettings, WeeklyRanking


@admin.register(RankingSettings)
class RankingSettingsAdmin(AuditedAdmin):
    list_display = ("__str__", "campaign_start", "list_size", "minimum_due", "updated_at")
    fields = (
        "campaign_start",
        "list_size",
        "minimum_due",
        "weight_on_time",
        "weight_overdue",
        "weight_rework",
    )

    def has_add_permission(self, request) -> bool:
        # One row: created on first use (RankingSettings.load).
        return super().has_add_permission(request) and not RankingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RankingEntryInline(admin.TabularInline):
    model = RankingEntry
    extra = 0
    can_delete = False
    fields = ("rank", "board", "label", "due", "closed_on_time", "late", "on_time_rate", "score")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WeeklyRanking)
class WeeklyRankingAdmin(admin.ModelAdmin):
    """Frozen weekly rankings: published lists, so read-only here."""

    list_display = ("__str__", "week_start", "kind", "frozen_at")
    list_filter = ("kind",)
    readonly_fields = ("week_start", "kind", "settings", "frozen_at")
    inlines = [RankingEntryInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
