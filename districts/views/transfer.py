"""Bulk import (upload → preview of every bad row → confirm) and export (XLSX and CSV).

Between preview and confirm the uploaded bytes stay on the server under MEDIA_ROOT/imports/
with the uploader's id; confirm re-reads and re-checks them, so nothing the browser sends back
is trusted except an opaque token, and a file whose effect changed since the preview is shown
again instead of being written.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from districts import importexport
from districts.forms import ImportForm
from districts.views.access import admin_required

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _preview(
    request: HttpRequest,
    *,
    plan: importexport.ImportPlan,
    name: str,
    token: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "districts/import_preview.html",
        {"plan": plan, "name": name, "token": token},
        status=status,
    )


@admin_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a file and see what importing it would do, with every bad row, before any write."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        file_format = importexport.format_for_name(upload.name) or ""
        kind = form.cleaned_data.get("kind") or None
        data = upload.read()
        try:
            sheets, ignored = importexport.read_upload(
                io.BytesIO(data), file_format=file_format, kind=kind
            )
        except importexport.ImportFileError as error:
            form.add_error("file", str(error))
        else:
            plan = importexport.import_plan(sheets, ignored_sheets=ignored)
            token = ""
            if plan.is_valid and plan.has_changes:
                token = importexport.upload_store(
                    user=request.user,
                    data=data,
                    name=upload.name,
                    file_format=file_format,
                    kind=kind,
                    fingerprint=plan.fingerprint(),
                ).token
            return _preview(request, plan=plan, name=upload.name, token=token)
    return render(
        request,
        "districts/import.html",
        {"form": form, "specs": list(importexport.SPECS.values())},
    )


@admin_required
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    """Write a previewed file: re-read and re-check it, then all of it or nothing."""
    stored = importexport.upload_load(user=request.user, token=request.POST.get("token", ""))
    if stored is None:
        messages.error(
            request, _("This upload has expired or is not yours; upload the file again.")
        )
        return redirect("districts:import")
    if request.POST.get("action") == "cancel":
        importexport.upload_discard(token=stored.token)
        messages.info(request, _("Import cancelled; nothing was written."))
        return redirect("districts:import")
    data = importexport.upload_bytes(stored)
    try:
        sheets, ignored = importexport.read_upload(
            io.BytesIO(data), file_format=stored.file_format, kind=stored.kind
        )
    except importexport.ImportFileError as error:
        importexport.upload_discard(token=stored.token)
        messages.error(request, str(error))
        return redirect("districts:import")
    try:
        with transaction.atomic():
            plan = importexport.import_plan(sheets, ignored_sheets=ignored)
            if plan.errors or plan.fingerprint() != stored.fingerprint:
                # The database moved since the preview: show the new effect, write nothing.
                raise _Stale(plan)
            result = importexport.import_apply(
                actor=request.user, plan=plan, source_name=stored.name
            )
    except _Stale as stale:
        importexport.upload_discard(token=stored.token)
        token = ""
        if stale.plan.is_valid and stale.plan.has_changes:
            token = importexport.upload_store(
                user=request.user,
                data=data,
                name=stored.name,
                file_format=stored.file_format,
                kind=stored.kind,
                fingerprint=stale.plan.fingerprint(),
            ).token
        messages.warning(
            request,
            _("The data changed since the preview. Check the new preview and confirm again."),
        )
        return _preview(request, plan=stale.plan, name=stored.name, token=token, status=409)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("districts:import")
    importexport.upload_discard(token=stored.token)
    summary = "; ".join(
        _("%(kind)s: %(created)s new, %(updated)s changed, %(unchanged)s unchanged")
        % {"kind": importexport.SPECS[kind].label, **counts}
        for kind, counts in result.counts.items()
    )
    messages.success(
        request, _("Imported %(name)s. %(summary)s") % {"name": stored.name, "summary": summary}
    )
    return redirect("districts:import")


class _Stale(Exception):
    def __init__(self, plan: importexport.ImportPlan) -> None:
        super().__init__("stale")
        self.plan = plan


@admin_required
def export(request: HttpRequest) -> HttpResponse:
    """The export page, and the downloads: one XLSX workbook or one CSV per kind."""
    file_format = request.GET.get("format")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if file_format == "xlsx":
        template = request.GET.get("template") == "1"
        data = importexport.export_xlsx(with_rows=not template)
        response = HttpResponse(data, content_type=XLSX_TYPE)
        name = "civicapp-template.xlsx" if template else f"civicapp-reference-{stamp}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    kind = request.GET.get("kind", "")
    if file_format == "csv" and kind in importexport.SPECS:
        response = StreamingHttpResponse(
            (chunk.encode("utf-8") for chunk in importexport.export_csv(kind)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="civicapp-{kind}-{stamp}.csv"'
        return response
    return render(request, "districts/export.html", {"specs": list(importexport.SPECS.values())})
