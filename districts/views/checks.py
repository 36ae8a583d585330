"""Read-only checks: coverage gaps with links to fix them, what routing picks and why, the log."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from districts.coverage import coverage_report
from districts.forms import RoutingCheckForm
from districts.matrix import Slot
from districts.models import AuditAction, AuditEntry, OwnerKind
from districts.routing import route
from districts.views.access import admin_required
from districts.views.matrix import cell_url


@admin_required
def coverage(request: HttpRequest) -> HttpResponse:
    """Every coverage gap, each with a link to the place that fixes it."""
    report = coverage_report()
    staff_create = reverse("districts:staff_create")
    communities = [
        (
            community,
            cell_url(community.district, Slot(OwnerKind.TERRITORIAL, community=community)),
            reverse("districts:matrix", args=[community.district_id])
            + f"#{Slot(OwnerKind.TERRITORIAL, district=community.district).anchor}",
        )
        for community in report.communities
    ]
    points = [
        (
            point,
            cell_url(point.community.district, Slot(OwnerKind.PAIRED, point=point)),
            cell_url(point.community.district, Slot(OwnerKind.PAIRED, community=point.community)),
        )
        for point in report.points
    ]
    categories = [
        (
            gap,
            cell_url(gap.missing_districts[0], Slot(OwnerKind.SECTOR, category=gap.category)),
            [
                (
                    district,
                    cell_url(
                        district,
                        Slot(OwnerKind.SECTOR, district=district, category=gap.category),
                    ),
                )
                for district in gap.missing_districts
            ],
        )
        for gap in report.categories
    ]
    districts = [
        (district, f"{staff_create}?role=supervisor&districts={district.pk}")
        for district in report.districts
    ]
    organisations = [
        (organisation, f"{staff_create}?role=handler&organisation={organisation.pk}")
        for organisation in report.organisations
    ]
    return render(
        request,
        "districts/coverage.html",
        {
            "report": report,
            "communities": communities,
            "points": points,
            "categories": categories,
            "districts": districts,
            "organisations": organisations,
        },
    )


@admin_required
def routing_check(request: HttpRequest) -> HttpResponse:
    """Ask routing who would own a category at a place today (or on a day), and see why."""
    form = RoutingCheckForm(request.GET or None)
    decision = None
    fix_url = ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        community = data["community"]
        on = data.get("on")
        decision = route(
            category=data["category"], community=community, point=data.get("point"), on=on
        )
        fix_url = reverse("districts:matrix", args=[community.district_id])
        if decision.responsibility is not None:
            fix_url = cell_url(
                community.district,
                Slot(
                    decision.responsibility.kind,
                    district=decision.responsibility.district,
                    community=decision.responsibility.community,
                    point=decision.responsibility.point,
                    category=decision.responsibility.category,
                ),
            )
    return render(
        request,
        "districts/routing_check.html",
        {"form": form, "decision": decision, "fix_url": fix_url},
    )


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every change made through the admin tools, newest first."""
    entries = AuditEntry.objects.select_related("actor").order_by("-created_at", "-id")
    action = request.GET.get("action", "")
    unknown_action = bool(action) and action not in AuditAction.values
    if unknown_action:
        # A link from an older version or a hand-edited address: say so and show nothing.
        entries = entries.none()
    elif action:
        entries = entries.filter(action=action)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "districts/audit.html",
        {
            "page": page,
            "action": "" if unknown_action else action,
            "unknown_action": unknown_action,
            "actions": AuditAction.choices,
        },
    )
