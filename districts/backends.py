"""Permissions that follow the staff role, so a zone admin can keep the reference data."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend

from civicapp.db import Prepared
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


# Every request's user with their membership, compiled once (`civicapp.db.Prepared`).
USER_WITH_MEMBERSHIP = Prepared(
    lambda pk: get_user_model()._default_manager.select_related("membership").filter(pk=pk)
)


class StaffModelBackend(ModelBackend):
    """Django's model backend that loads the user's staff membership with the user: every
    request needs both (scope, role, language), so they cost one query instead of two."""

    def get_user(self, user_id):
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        found = USER_WITH_MEMBERSHIP(pk)
        if not found:
            return None
        user = found[0]
        return user if self.user_can_authenticate(user) else None
