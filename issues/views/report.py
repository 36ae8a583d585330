"""Reporting a problem from a phone: the one-screen form and the nearby-points fragment."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from districts import policy
from districts.geo import distance_m
from districts.http import add_service_error
from districts.models import Category, Severity
from issues import services
from issues.forms import IssueReportForm
from issues.models import Issue
from issues.views.offline import offline_cacheable

# How far around the phone inspection points are offered, and how many.
NEARBY_RADIUS_M = 500
NEARBY_LIMIT = 8
# Categories this user chose recently come first in the grid.
RECENT_CATEGORY_COUNT = 6
RECENT_REPORTS_SCANNED = 40
COMMON_CATEGORY_COUNT = 8


def _wants_json(request: HttpRequest) -> bool:
    # The report page's script sends the form itself (to show upload progress and keep the
    # photos on a failure) and asks for JSON; a plain form post gets HTML.
    return "application/json" in request.headers.get("Accept", "")


def _ordered_categories(user) -> tuple[list[Category], set[int]]:
    """Active categories, the user's recently used ones first; two queries."""
    recent_ids: list[int] = []
    scanned = (
        Issue.objects.filter(reporter=user)
        .order_by("-reported_at", "-id")
        .values_list("category_id", flat=True)[:RECENT_REPORTS_SCANNED]
    )
    for category_id in scanned:
        if category_id not in recent_ids:
            recent_ids.append(category_id)
        if len(recent_ids) == RECENT_CATEGORY_COUNT:
            break
    categories = list(Category.objects.filter(is_active=True))
    rank = {pk: index for index, pk in enumerate(recent_ids)}
    categories.sort(key=lambda c: rank.get(c.pk, len(rank)))  # stable: keeps sort_order
    return categories, set(recent_ids)


def _render_form(request: HttpRequest, form: IssueReportForm) -> HttpResponse:
    categories, recent_ids = _ordered_categories(request.user)
    selected = str(form["category"].value() or "")
    recent = [c for c in categories if c.pk in recent_ids]
    others = [c for c in categories if c.pk not in recent_ids]
    # A first-time reporter gets the most common problems (the taxonomy's order) up front.
    first = recent or others[:COMMON_CATEGORY_COUNT]
    others = [c for c in others if c not in first]
    return render(
        request,
        "issues/report.html",
        {
            "form": form,
            "categories": categories,
            "first_categories": first,
            "first_are_recent": bool(recent),
            "recent_categories": recent,
            "other_categories": others,
            # The full grid folds away behind the recent choices, unless it holds the choice.
            "others_open": any(str(c.pk) == selected for c in others),
            "selected_category": selected,
            "severities": Severity.choices,
            "photos_lost": form.is_bound and bool(request.FILES),
            "nearby_radius_m": NEARBY_RADIUS_M,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@offline_cacheable
def issue_report(request: HttpRequest) -> HttpResponse:
    """The phone report form; a double tap (the same client token) files one issue.

    The outbox replays it asking for JSON: a refusal then answers JSON too (403 with a
    message, 400 with the form's errors), so the phone can keep the item and show why.
    """
    if not policy.may_report(request.user):
        if request.method == "POST" and _wants_json(request):
            return _json_refusal(403, _("Your account may not report problems."))
        raise PermissionDenied
    if request.method == "POST" and _wants_json(request):
        try:
            return _issue_report_post(request)
        except PermissionDenied as error:
            return _json_refusal(403, str(error) or _("You may not report problems here."))
    if request.method == "POST":
        return _issue_report_post(request)
    form = IssueReportForm(user=request.user, initial={"client_token": uuid.uuid4()})
    return _render_form(request, form)


def _json_refusal(status: int, message: str, errors: dict | None = None) -> JsonResponse:
    return JsonResponse({"ok": False, "message": message, "errors": errors or {}}, status=status)


def _issue_report_post(request: HttpRequest) -> HttpResponse:
    existing = _already_filed(request)
    if existing is not None:
        # A retried or doubled send: the first one went through; show it, file nothing.
        return _created(request, existing, repeated=True)
    form = IssueReportForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        try:
            issue = services.issue_create(reporter=request.user, **form.service_kwargs())
        except ValidationError as error:  # PermissionDenied (out of scope) is a 403
            add_service_error(form, error)
        else:
            return _created(request, issue, repeated=False)
    if _wants_json(request):
        return _json_refusal(
            400,
            _("The report was not filed. Please check the marked fields."),
            form.errors.get_json_data(),
        )
    return _render_form(request, form)


def _already_filed(request: HttpRequest) -> Issue | None:
    try:
        token = uuid.UUID(request.POST.get("client_token", ""))
    except ValueError:
        return None
    return Issue.objects.filter(client_token=token, reporter=request.user).first()


def _created(request: HttpRequest, issue: Issue, *, repeated: bool) -> HttpResponse:
    if repeated:
        messages.info(
            request,
            _("Issue %(number)s was already filed from this form.") % {"number": issue},
        )
    else:
        messages.success(request, _("Issue %(number)s was filed.") % {"number": issue})
    if _wants_json(request):
        return JsonResponse({"ok": True, "url": issue.get_absolute_url(), "repeated": repeated})
    return redirect(issue)


@login_required
@require_GET
def nearby_points(request: HttpRequest) -> HttpResponse:
    """Inspection points within 500 m of a position, nearest first, inside the user's scope.

    Answers an HTML fragment for the report page (or JSON with ?format=json).
    """
    if not policy.may_report(request.user):
        raise PermissionDenied
    try:
        latitude = float(request.GET["lat"])
        longitude = float(request.GET["lng"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest(_("lat and lng are required."))
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return HttpResponseBadRequest(_("lat and lng are out of range."))
    # The box query uses the coordinate index; the true distance then trims the box's corners.
    candidates = (
        policy.reporting_points(request.user)
        .within_box(latitude=latitude, longitude=longitude, radius_m=NEARBY_RADIUS_M)
        .select_related("community", "point_type")[:500]
    )
    ranked = sorted(
        (
            (distance_m(latitude, longitude, float(p.latitude), float(p.longitude)), p)
            for p in candidates
        ),
        key=lambda pair: (pair[0], pair[1].pk),
    )
    nearby = [(round(d), p) for d, p in ranked if d <= NEARBY_RADIUS_M][:NEARBY_LIMIT]
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "points": [
                    {
                        "id": p.pk,
                        "name": p.name,
                        "community": p.community.display_name,
                        "community_id": p.community_id,
                        "distance_m": d,
                    }
                    for d, p in nearby
                ]
            }
        )
    return render(
        request,
        "issues/includes/nearby_points.html",
        {"nearby": nearby, "radius_m": NEARBY_RADIUS_M},
    )
