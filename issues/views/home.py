"""The home page: each role sees its own work first.

The figures and short lists come from `issues.selectors` (a fixed number of queries per block);
this module turns them into tiles and links.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from districts import policy
from districts.models import Role
from issues import selectors
from issues.models import CLOCK_STATUSES, OPEN_STATUSES, Issue, Status
from issues.views.offline import offline_cacheable

# How many issues each home list shows; the full list is one link away.
HOME_LIST_SIZE = 8
# The supervisor's home stacks three lists; shorter ones keep it one thumb-scroll deep.
SUPERVISOR_LIST_SIZE = 5
# Leaders' overview counts closures over this window, not since the beginning of time.
RECENT_CLOSED_DAYS = 30
ESCALATED_LEVELS = ("1", "2", "3")

TILE_LABELS = {
    "my_open": _("My open reports"),
    "my_closed": _("My reports closed"),
    "to_verify": _("Awaiting verification"),
    "overdue": _("Overdue"),
    "to_acknowledge": _("To acknowledge"),
    "in_progress": _("In progress"),
    "rework": _("Rework"),
    "submitted": _("Awaiting verification"),
    "to_triage": _("To triage"),
    "escalated": _("Escalated"),
    "returned": _("Returned, to dispatch again"),
    "extensions": _("Extension requests"),
    "open": _("Open"),
    "closed_recently": _("Closed in the last 30 days"),
}


def list_url(**params: str | Iterable[str]) -> str:
    """A shareable URL of the issue list with these filters."""
    return _list_path() + _query(params)


def _list_path() -> str:
    return reverse("issues:issue_list")


def _query(params: dict[str, str | Iterable[str]]) -> str:
    query = urlencode(params, doseq=True)
    return f"?{query}" if query else ""


def _open_statuses() -> list[str]:
    return [str(status) for status in OPEN_STATUSES]


def _clock_statuses() -> list[str]:
    return [str(status) for status in CLOCK_STATUSES]


def _inspector_context(user, visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    data = selectors.inspector_home(user, visible, size=HOME_LIST_SIZE)
    counts = data["counts"]
    return {
        "recent_reports": data["recent"],
        "tiles": [
            {
                "label": TILE_LABELS["my_open"],
                "value": counts["my_open"],
                "url": list_url(reporter=user.get_username(), status=_open_statuses()),
            },
            {
                "label": TILE_LABELS["to_verify"],
                "value": counts["to_verify"],
                "url": list_url(status=Status.SUBMITTED),
                "tone": "warn",
            },
            {
                "label": TILE_LABELS["my_closed"],
                "value": counts["my_closed"],
                "url": list_url(reporter=user.get_username(), status=Status.CLOSED),
            },
        ],
        "my_reports_url": list_url(reporter=user.get_username()),
    }


def _handler_context(user, visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    data = selectors.handler_home(user, visible, now, size=HOME_LIST_SIZE)
    counts = data["counts"]
    return {
        "queue": data["queue"],
        "queue_url": list_url(status=_clock_statuses(), sort="deadline"),
        "tiles": [
            {
                "label": TILE_LABELS["overdue"],
                "value": counts["overdue"],
                "url": list_url(overdue="true", sort="deadline"),
                "tone": "alert",
            },
            {
                "label": TILE_LABELS["to_acknowledge"],
                "value": counts["to_acknowledge"],
                "url": list_url(status=Status.ASSIGNED, sort="deadline"),
            },
            {
                "label": TILE_LABELS["in_progress"],
                "value": counts["in_progress"],
                "url": list_url(status=Status.IN_PROGRESS, sort="deadline"),
            },
            {
                "label": TILE_LABELS["rework"],
                "value": counts["rework"],
                "url": list_url(rework="true", status=_open_statuses(), sort="deadline"),
                "tone": "warn",
            },
            {
                "label": TILE_LABELS["submitted"],
                "value": counts["submitted"],
                "url": list_url(status=Status.SUBMITTED),
            },
        ],
    }


def _supervisor_context(user, visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    data = selectors.supervisor_home(user, visible, now, size=SUPERVISOR_LIST_SIZE)
    counts = data["counts"]
    return {
        "to_triage": data["to_triage"],
        "to_verify": data["to_verify"],
        "overdue": data["overdue"],
        "tiles": [
            {
                "label": TILE_LABELS["to_triage"],
                "value": counts["to_triage"],
                "url": list_url(status=Status.REPORTED, sort="reported_at"),
            },
            {
                "label": TILE_LABELS["to_verify"],
                "value": counts["to_verify"],
                "url": list_url(status=Status.SUBMITTED, sort="updated_at"),
            },
            {
                "label": TILE_LABELS["overdue"],
                "value": counts["overdue"],
                "url": list_url(overdue="true", sort="deadline"),
                "tone": "alert",
            },
            {
                "label": TILE_LABELS["escalated"],
                "value": counts["escalated"],
                "url": list_url(escalation_level=ESCALATED_LEVELS, status=_open_statuses()),
                "tone": "warn",
            },
            {
                "label": TILE_LABELS["returned"],
                "value": counts["returned"],
                "url": reverse("issues:triage") + "?returned=true",
                "tone": "warn",
            },
            {
                "label": TILE_LABELS["extensions"],
                "value": counts["extensions"],
                "url": reverse("issues:extension_queue"),
            },
        ],
        # The dedicated screens: bulk dispatch, and before/after photos side by side.
        "triage_url": reverse("issues:triage"),
        "verify_url": reverse("issues:verify_queue"),
        "overdue_url": list_url(overdue="true", sort="deadline"),
    }


def _overview_context(user, now: datetime.datetime) -> dict[str, Any]:
    since = now - datetime.timedelta(days=RECENT_CLOSED_DAYS)
    data = selectors.overview_home(user, now, since=since)
    counts = data["counts"]
    status_counts = [f"status_{status}" for status in OPEN_STATUSES]
    open_total = sum(counts[key] for key in status_counts)
    tiles = [
        {
            "label": TILE_LABELS["open"],
            "value": open_total,
            "url": list_url(status=_open_statuses()),
        },
        {
            "label": TILE_LABELS["overdue"],
            "value": counts["overdue"],
            "url": list_url(overdue="true", sort="deadline"),
            "tone": "alert",
        },
        {
            "label": TILE_LABELS["escalated"],
            "value": counts["escalated"],
            "url": list_url(escalation_level=ESCALATED_LEVELS, status=_open_statuses()),
            "tone": "warn",
        },
        {
            "label": TILE_LABELS["closed_recently"],
            "value": counts["closed_recently"],
            "url": list_url(
                status=Status.CLOSED, closed_from=timezone.localdate(since).isoformat()
            ),
        },
    ]
    by_status = [
        {
            "status": str(status),
            "label": status.label,
            "value": counts[f"status_{status}"],
            "url": list_url(status=status),
        }
        for status in OPEN_STATUSES
    ]
    # A dozen districts, four links each: the list's path is reversed, and each link's filters
    # after the district encoded, once per page, not per link (the same URLs as `list_url`).
    path = _list_path()
    after_district = {
        "open_url": _query({"status": _open_statuses()}),
        "reported_url": _query({"status": Status.REPORTED}),
        "submitted_url": _query({"status": Status.SUBMITTED}),
        "overdue_url": _query({"overdue": "true", "sort": "deadline"}),
    }
    district_rows = []
    for row in data["districts"]:
        district = path + _query({"district": str(row["district"].pk)})
        district_rows.append(
            {**row, **{name: f"{district}&{rest[1:]}" for name, rest in after_district.items()}}
        )
    return {
        "tiles": tiles,
        "by_status": by_status,
        "district_rows": district_rows,
        "recent_closed_days": RECENT_CLOSED_DAYS,
    }


@require_GET
@login_required
@offline_cacheable
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own work, chosen by role."""
    user = request.user
    role = policy.role_of(user)
    now = timezone.now()
    visible = Issue.objects.visible_to(user)
    context: dict[str, Any] = {"role": role, "now": now}
    if role == Role.INSPECTOR:
        context.update(_inspector_context(user, visible, now))
    elif role == Role.HANDLER:
        context.update(_handler_context(user, visible, now))
    elif role == Role.SUPERVISOR:
        context.update(_supervisor_context(user, visible, now))
    elif role in (Role.LEADER, Role.ADMIN):
        context.update(_overview_context(user, now))
    return render(request, "issues/home.html", context)
