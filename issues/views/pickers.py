"""The pickers' JSON endpoint: a few rows in the user's scope matching what they typed."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from issues import pickers


@require_GET
@login_required
def picker(request: HttpRequest, kind: str) -> JsonResponse:
    """`{"results": [{"id", "label"}], "more"}`: at most PICKER_LIMIT rows of one kind within
    the user's scope (the reporting scope with `reporting=1`), in one query."""
    picker_kind = pickers.KINDS.get(kind)
    if picker_kind is None:
        raise Http404
    reporting = request.GET.get("reporting") == "1"
    answer = pickers.search(
        picker_kind, request.user, request.GET.get("q", ""), reporting=reporting
    )
    response = JsonResponse(answer)
    # Scoped to the user: never stored by a shared cache.
    response["Cache-Control"] = "private, max-age=60"
    return response
