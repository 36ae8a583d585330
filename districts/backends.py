"""Permissions that follow the staff role, so a zone admin can keep the reference data."""

from django.contrib.auth.backends import BaseBackend

from districts.policy import is_zone_admin

# Staff accounts are managed on the /manage/ pages, which keep the audit log and never grant
# superuser; the Django admin is for reference data only.
ADMIN_APP_LABELS = frozenset({"districts", "issues", "reminders", "stats", "rounds"})


class ZoneAdminBackend(BaseBackend):
    """Grants an active user with the admin role every permission on the app's own models."""

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return is_zone_admin(user_obj) and perm.split(".", 1)[0] in ADMIN_APP_LABELS

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return is_zone_admin(user_obj) and app_label in ADMIN_APP_LABELS
