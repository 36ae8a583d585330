"""Template context every page needs: the bell's unread count, the user's role and abilities."""

from __future__ import annotations

import functools
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
    """Unread count and role for the top bar; templates call these, so a page that never shows
    them runs no query, and a page that shows them twice runs one."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "unread_notification_count": 0,
            "user_role": None,
            "can": policy.capabilities(None),
            "unread_count_cap": 0,
        }
    return {
        "unread_notification_count": functools.cache(lambda: unread_notification_count(user)),
        "user_role": functools.cache(lambda: policy.role_of(user)),
        # What the role may do, from the one policy: templates test `can.report`, never a role.
        "can": policy.capabilities(user),
        "unread_count_cap": UNREAD_COUNT_CAP,
    }
