"""The bell's list: a user's in-app notifications, each linking to its issue or its page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from districts.inputs import parse_id
from issues import permissions
from issues.models import Issue, Notification, is_site_path

PAGE_SIZE = 30


def _own_notifications(request: HttpRequest):
    return Notification.objects.filter(user=request.user)


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's newest notifications; a link only to issues they can still see."""
    before = parse_id(request.GET.get("before"))
    # Each notice's case comes with it, joined by its id, and is judged by the scope rule in
    # Python (`permissions.can_view`): scope may have changed since the notice. As an EXISTS
    # in the query PostgreSQL hashed every case of the user's districts (16 738 rows at
    # 200 000 issues) to judge thirty.
    notifications = _own_notifications(request).select_related("issue")
    if before is not None:
        notifications = notifications.filter(pk__lt=before)
    rows = list(notifications.order_by("-id")[: PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:
        row.issue_visible = row.issue is not None and permissions.can_view(request.user, row.issue)
    return render(
        request,
        "issues/notifications.html",
        {
            "notifications": rows,
            "next_url": f"?before={rows[-1].pk}" if has_next else None,
            "first_url": "?" if "before" in request.GET else None,
            "has_unread": any(row.read_at is None for row in rows),
        },
    )


@require_POST
@login_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's notifications read and open its issue, its page, or the list."""
    notification = get_object_or_404(_own_notifications(request), pk=pk)
    if notification.read_at is None:
        # Compare-and-swap: a second tap (or another tab) does not move the read time.
        _own_notifications(request).filter(pk=pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
    if (
        notification.issue_id
        and Issue.objects.visible_to(request.user).filter(pk=notification.issue_id).exists()
    ):
        return redirect("issues:issue_detail", pk=notification.issue_id)
    if notification.issue_id is None and is_site_path(notification.link):
        # A path on this site only (checked again here): the page itself applies the scope.
        return redirect(notification.link)
    return redirect("issues:notification_list")


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    """Mark all of the user's unread notifications read."""
    _own_notifications(request).filter(read_at__isnull=True).update(read_at=timezone.now())
    return redirect("issues:notification_list")
