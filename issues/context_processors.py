"""Template context every page needs: the user's abilities; and the bell's unread count."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from civicapp.db import Prepared
from districts import policy
from issues.models import Notification

# The bell shows "99+" beyond this; counting stops there so a flood of notifications stays cheap.
UNREAD_COUNT_CAP = 100


# The ids of a user's first unread notifications, from the partial index on unread rows,
# compiled once (`civicapp.db.Prepared`): the bell is on every page.
UNREAD_IDS: Prepared[Any] = Prepared(
    lambda user_id: (
        Notification.objects.filter(user_id=user_id, read_at__isnull=True)
        .order_by()
        .values_list("pk")[:UNREAD_COUNT_CAP]
    )
)


def unread_notification_count(user) -> int:
    """Unread notifications of a user, counted up to UNREAD_COUNT_CAP."""
    return len(UNREAD_IDS(user.pk))


def shell(request: HttpRequest) -> dict:
    """What the role may do, from the one policy: templates test `can.report`, never a role.
    (The top bar's role and unread count are read by `issues.templatetags.shell`.)"""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {"can": policy.capabilities(user if signed_in else None)}
