"""The home page: each role sees its own work first.

Every block runs a fixed number of queries: counts come from one aggregate with `filter=` per
status, lists are LIMITed, so the page costs the same for a quiet zone and a busy province.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, FilteredRelation, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from districts import policy
from districts.models import Role
from issues.models import (
    CLOCK_STATUSES,
    OPEN_STATUSES,
    Issue,
    Status,
)
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
    "open": _("Open"),
    "closed_recently": _("Closed in the last 30 days"),
}


def list_url(**params: str | Iterable[str]) -> str:
    """A shareable URL of the issue list with these filters."""
    query = urlencode(params, doseq=True)
    return reverse("issues:issue_list") + (f"?{query}" if query else "")


def _open_statuses() -> list[str]:
    return [str(status) for status in OPEN_STATUSES]


def _clock_statuses() -> list[str]:
    return [str(status) for status in CLOCK_STATUSES]


def _overdue_q(now: datetime.datetime) -> Q:
    return Q(status__in=CLOCK_STATUSES, deadline__lt=now)


def _by_deadline(queryset: QuerySet[Issue]) -> QuerySet[Issue]:
    return queryset.order_by(F("deadline").asc(nulls_last=True), "id")


def _inspector_context(user, visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    mine = visible.filter(reporter=user)
    counts = visible.filter(Q(reporter=user) | Q(status=Status.SUBMITTED)).aggregate(
        my_open=Count("pk", filter=Q(reporter=user, status__in=OPEN_STATUSES)),
        my_closed=Count("pk", filter=Q(reporter=user, status=Status.CLOSED)),
        # Inspectors verify others' fixes; their own organisation's fixes are never theirs.
        to_verify=Count("pk", filter=Q(status=Status.SUBMITTED) & ~Q(last_fix_by=user)),
    )
    return {
        "recent_reports": list(
            mine.with_list_related().order_by("-reported_at", "-id")[:HOME_LIST_SIZE]
        ),
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


def _handler_context(visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    counts = visible.filter(status__in=OPEN_STATUSES).aggregate(
        overdue=Count("pk", filter=_overdue_q(now)),
        to_acknowledge=Count("pk", filter=Q(status=Status.ASSIGNED)),
        in_progress=Count("pk", filter=Q(status=Status.IN_PROGRESS)),
        rework=Count("pk", filter=Q(rework_count__gt=0)),
        submitted=Count("pk", filter=Q(status=Status.SUBMITTED)),
    )
    # Earliest deadline first puts the overdue work on top, then what falls due next.
    queue = _by_deadline(visible.filter(status__in=CLOCK_STATUSES).with_list_related())
    return {
        "queue": list(queue[:HOME_LIST_SIZE]),
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


def _supervisor_context(visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    counts = visible.filter(status__in=OPEN_STATUSES).aggregate(
        to_triage=Count("pk", filter=Q(status=Status.REPORTED)),
        to_verify=Count("pk", filter=Q(status=Status.SUBMITTED)),
        overdue=Count("pk", filter=_overdue_q(now)),
        escalated=Count("pk", filter=Q(escalation_level__gt=0)),
    )
    listed = visible.with_list_related()
    return {
        # Oldest first: whatever has waited longest is handled next.
        "to_triage": list(
            listed.filter(status=Status.REPORTED).order_by("reported_at", "id")[
                :SUPERVISOR_LIST_SIZE
            ]
        ),
        "to_verify": list(
            listed.filter(status=Status.SUBMITTED).order_by("submitted_at", "id")[
                :SUPERVISOR_LIST_SIZE
            ]
        ),
        "overdue": list(_by_deadline(listed.filter(_overdue_q(now)))[:SUPERVISOR_LIST_SIZE]),
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
        ],
        # The dedicated screens: bulk dispatch, and before/after photos side by side.
        "triage_url": reverse("issues:triage"),
        "verify_url": reverse("issues:verify_queue"),
        "overdue_url": list_url(overdue="true", sort="deadline"),
    }


def _overview_context(user, visible: QuerySet[Issue], now: datetime.datetime) -> dict[str, Any]:
    since = now - datetime.timedelta(days=RECENT_CLOSED_DAYS)
    status_counts = {
        f"status_{status}": Count("pk", filter=Q(status=status)) for status in OPEN_STATUSES
    }
    # Closed, rejected and cancelled rows are most of the table; only recent closures count here.
    counts = visible.filter(Q(status__in=OPEN_STATUSES) | Q(closed_at__gte=since)).aggregate(
        **status_counts,
        closed_recently=Count("pk", filter=Q(status=Status.CLOSED, closed_at__gte=since)),
        overdue=Count("pk", filter=_overdue_q(now)),
        escalated=Count("pk", filter=Q(status__in=OPEN_STATUSES, escalation_level__gt=0)),
    )
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
    # One query for the district table; the FilteredRelation joins only open issues (a partial
    # index covers them), so closed history never enters the join.
    districts = (
        policy.districts_in_scope(user)
        .annotate(
            open_issue=FilteredRelation("issue", condition=Q(issue__status__in=OPEN_STATUSES))
        )
        .annotate(
            open_count=Count("open_issue"),
            reported_count=Count("open_issue", filter=Q(open_issue__status=Status.REPORTED)),
            submitted_count=Count("open_issue", filter=Q(open_issue__status=Status.SUBMITTED)),
            overdue_count=Count(
                "open_issue",
                filter=Q(open_issue__status__in=CLOCK_STATUSES, open_issue__deadline__lt=now),
            ),
        )
        .order_by("sort_order", "code")
    )
    district_rows = [
        {
            "district": district,
            "open": district.open_count,
            "reported": district.reported_count,
            "submitted": district.submitted_count,
            "overdue": district.overdue_count,
            "open_url": list_url(district=str(district.pk), status=_open_statuses()),
            "reported_url": list_url(district=str(district.pk), status=Status.REPORTED),
            "submitted_url": list_url(district=str(district.pk), status=Status.SUBMITTED),
            "overdue_url": list_url(district=str(district.pk), overdue="true", sort="deadline"),
        }
        for district in districts
    ]
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
        context.update(_handler_context(visible, now))
    elif role == Role.SUPERVISOR:
        context.update(_supervisor_context(visible, now))
    elif role in (Role.LEADER, Role.ADMIN):
        context.update(_overview_context(user, visible, now))
    return render(request, "issues/home.html", context)
