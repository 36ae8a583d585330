"""The filtered issue list and its CSV export.

Keyset paging is in `issues.paging`, the CSV ledger in `issues.exports`;
`manage.py benchmark_pages` measures the pages on 200 000 issues.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from districts import policy
from issues.exports import export_lines
from issues.filters import IssueFilterSet
from issues.models import Issue
from issues.paging import InvalidCursor, paginate, url_with


def _filterset(request: HttpRequest) -> IssueFilterSet:
    return IssueFilterSet(
        request.GET,
        queryset=Issue.objects.visible_to(request.user).with_list_related(),
        request=request,
    )


@require_GET
@login_required
def issue_list(request: HttpRequest) -> HttpResponse:
    """Issues in the user's scope, filtered, sorted and paged by keyset."""
    filterset = _filterset(request)
    filterset.search_in_pager = True
    page: dict[str, Any] = {"rows": [], "next_url": None, "previous_url": None, "first_url": None}
    cursor_error = False
    if filterset.is_valid():
        try:
            page = paginate(
                filterset.qs,
                request.GET,
                filterset.sort,
                filterset.page_size,
                alternatives=filterset.search_alternatives,
            )
        except InvalidCursor:
            cursor_error = True
    export_query = url_with(request.GET)
    context = {
        "filterset": filterset,
        "form": filterset.form,
        "filters_invalid": filterset.is_bound and not filterset.is_valid(),
        "cursor_error": cursor_error,
        "role": policy.role_of(request.user),
        "now": timezone.now(),
        "export_query": "" if export_query == "?" else export_query,
        # Folded on phones even when a link set filters ("my reports"): the badge counts them,
        # and the rows come first; open only to show what needs correcting.
        "filters_open": not filterset.is_valid(),
        **page,
    }
    return render(request, "issues/list.html", context)


@require_GET
@login_required
def issue_export_csv(request: HttpRequest) -> HttpResponse:
    """The filtered list as a CSV ledger (UTF-8 with BOM), streamed so memory stays flat."""
    filterset = _filterset(request)
    if not filterset.is_valid():
        return render(
            request,
            "issues/list.html",
            {
                "filterset": filterset,
                "form": filterset.form,
                "filters_invalid": True,
                "filters_open": True,
                "rows": [],
                "role": policy.role_of(request.user),
            },
            status=400,
        )
    now = timezone.now()
    response = StreamingHttpResponse(
        export_lines(filterset.qs.select_related("reporter"), now),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"issues-{timezone.localtime(now):%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
