"""Dashboards, the 红黑榜, the 通报 and the 整改台账: read-only pages over `stats.selectors`."""

from __future__ import annotations

import tempfile

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from districts import policy
from stats import exports, selectors, services
from stats.forms import PRESETS, DashboardFilterForm
from stats.ledger import LEDGER_DIRECT_MAX, write_ledger
from stats.models import LedgerExport, RankingSettings, WeeklyRanking


def _filter_form(request: HttpRequest) -> DashboardFilterForm:
    settings = RankingSettings.load()
    return DashboardFilterForm(
        request.GET or None, user=request.user, campaign_start=settings.campaign_start
    )


def _render_dashboard(
    request: HttpRequest, context: dict, form: DashboardFilterForm
) -> HttpResponse:
    context.update(
        {
            "form": form,
            "presets": PRESETS,
            "preset": form.preset,
            "filters_invalid": form.is_bound and not form.is_valid(),
            "scope_query": form.scope_params(),
        }
    )
    return render(request, "stats/dashboard.html", context)


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Leaders', supervisors' and admins' figures for their districts."""
    if not policy.may_read_dashboards(request.user):
        raise PermissionDenied
    form = _filter_form(request)
    now = timezone.now()
    context = selectors.dashboard(request.user, form, now, today=timezone.localdate(now))
    context["kind"] = "zone"
    return _render_dashboard(request, context, form)


@require_GET
@login_required
def my_organisation(request: HttpRequest) -> HttpResponse:
    """A handler's figures for their own organisation's cases."""
    if not policy.may_handle(request.user):
        raise PermissionDenied
    form = _filter_form(request)
    now = timezone.now()
    context = selectors.organisation_dashboard(
        request.user, form, now, today=timezone.localdate(now)
    )
    context["kind"] = "organisation"
    context["organisation"] = policy.membership_of(request.user).organisation
    return _render_dashboard(request, context, form)


def _require_reader(request: HttpRequest) -> None:
    if not policy.may_read_dashboards(request.user):
        raise PermissionDenied


@require_GET
@login_required
def ranking(request: HttpRequest) -> HttpResponse:
    """The weekly 红黑榜: the week asked for, else the last frozen one, else last week's."""
    _require_reader(request)
    now = timezone.now()
    week_start = None
    if request.GET.get("week"):
        week_start = services.parse_week(request.GET["week"])
    if week_start is None:
        latest = WeeklyRanking.objects.order_by("-week_start").first()
        week_start = (
            latest.week_start if latest else services.last_ended_week(timezone.localdate(now))
        )
    context = selectors.ranking_page(request.user, week_start, now)
    return render(request, "stats/ranking.html", context)


@require_GET
@login_required
def ranking_history(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """A unit's rank week by week in the published lists."""
    _require_reader(request)
    if kind == WeeklyRanking.Kind.DISTRICT:
        unit = policy.districts_in_scope(request.user).filter(pk=pk).first()
    elif kind == WeeklyRanking.Kind.ORGANISATION and policy.covers_all_districts(request.user):
        # Published organisation figures count cases in every district: zone-wide readers only.
        unit = policy.organisations_in_scope(request.user).filter(pk=pk).first()
    else:
        unit = None
    if unit is None:
        raise Http404
    context = {"unit": unit, "kind": kind, "rows": selectors.ranking_history(kind, pk)}
    return render(request, "stats/ranking_history.html", context)


def _notice_week(request: HttpRequest) -> tuple:
    now = timezone.now()
    week_start = services.parse_week(request.GET.get("week", "")) or services.last_ended_week(
        timezone.localdate(now)
    )
    return week_start, now


@require_GET
@login_required
def notice(request: HttpRequest) -> HttpResponse:
    """The weekly 通报, printable on A4."""
    _require_reader(request)
    week_start, now = _notice_week(request)
    context = selectors.notice(request.user, week_start, now)
    return render(request, "stats/notice.html", context)


@require_GET
@login_required
def notice_xlsx(request: HttpRequest) -> HttpResponse:
    """The weekly 通报 as a workbook."""
    _require_reader(request)
    week_start, now = _notice_week(request)
    context = selectors.notice(request.user, week_start, now)
    response = HttpResponse(
        exports.notice_workbook(context),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="notice-{context["week_label"]}.xlsx"'
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _require_role(request: HttpRequest) -> None:
    # Whoever works with the issue list may take its ledger, in their own scope.
    if policy.role_of(request.user) is None:
        raise PermissionDenied


@require_GET
@login_required
def ledger(request: HttpRequest) -> HttpResponse:
    """The filtered list as a 整改台账 workbook: at once when small, else offered as a task."""
    _require_role(request)
    query = request.GET.urlencode()
    filterset = services.ledger_filterset(request.user, query)
    if not filterset.is_valid():
        return render(request, "stats/ledger.html", {"invalid": True, "query": query}, status=400)
    total = filterset.qs.count()
    if total > LEDGER_DIRECT_MAX:
        return render(request, "stats/ledger.html", {"total": total, "query": query})
    # FileResponse closes the file when the response is done.
    handle = tempfile.TemporaryFile()  # noqa: SIM115
    write_ledger(filterset.qs, handle)
    handle.seek(0)
    now = timezone.localtime()
    response = FileResponse(
        handle, content_type=XLSX, as_attachment=True, filename=f"ledger-{now:%Y%m%d-%H%M}.xlsx"
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def ledger_start(request: HttpRequest) -> HttpResponse:
    """Queue a large ledger; the status page shows its progress and the download."""
    _require_role(request)
    query = request.POST.get("query", "")[:4000]
    if not services.ledger_filterset(request.user, query).is_valid():
        return render(request, "stats/ledger.html", {"invalid": True, "query": query}, status=400)
    export = services.ledger_export_request(user=request.user, query=query)
    return redirect("stats:ledger_status", pk=export.pk)


def _own_export(request: HttpRequest, pk: int) -> LedgerExport:
    # Another user's export is a 404, like a case out of scope.
    return get_object_or_404(LedgerExport, pk=pk, user=request.user)


@require_GET
@login_required
def ledger_status(request: HttpRequest, pk: int) -> HttpResponse:
    export = _own_export(request, pk)
    return render(request, "stats/ledger_status.html", {"export": export})


@require_GET
@login_required
def ledger_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = _own_export(request, pk)
    if export.status != LedgerExport.Status.DONE or not export.file:
        raise Http404
    response = FileResponse(
        export.file.open("rb"),
        content_type=XLSX,
        as_attachment=True,
        filename=f"ledger-{export.created_at:%Y%m%d-%H%M}.xlsx",
    )
    response["Cache-Control"] = "no-store"
    return response
