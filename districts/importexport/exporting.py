"""Export in the import's columns: XLSX (one sheet per kind) and CSV (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from districts.importexport.specs import KIND_ORDER, SPECS, formula_safe
from districts.models import (
    Community,
    District,
    InspectionPoint,
    Organisation,
    Responsibility,
)


def _code(obj: Any) -> str:
    return obj.code if obj is not None else ""


def _number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def export_rows(kind: str, *, on: datetime.date | None = None) -> Iterator[list[Any]]:
    """The records of one kind as rows in the column order of SPECS (header not included)."""
    if kind == "districts":
        for district in District.objects.select_related("zone").order_by("sort_order", "code"):
            yield [
                district.code,
                district.name,
                district.name_en,
                district.kind,
                district.sort_order,
                district.zone.code,
            ]
    elif kind == "communities":
        for community in Community.objects.select_related("district").order_by(
            "district__sort_order", "district__code", "code"
        ):
            yield [
                community.code,
                community.name,
                community.name_en,
                community.district.code,
                community.kind,
                community.households,
                community.residents,
                _number(community.latitude),
                _number(community.longitude),
            ]
    elif kind == "points":
        points = InspectionPoint.objects.select_related("point_type", "community").order_by(
            "community__code", "code"
        )
        for point in points.iterator(chunk_size=2000):
            yield [
                point.code,
                point.name,
                point.point_type.code,
                point.community.code,
                point.address,
                _number(point.latitude),
                _number(point.longitude),
                "yes" if point.is_active else "no",
            ]
    elif kind == "organisations":
        for organisation in Organisation.objects.select_related("parent", "district").order_by(
            "kind", "code"
        ):
            yield [
                organisation.code,
                organisation.name,
                organisation.name_en,
                organisation.kind,
                _code(organisation.parent),
                _code(organisation.district),
                organisation.contact_name,
                organisation.contact_phone,
                "yes" if organisation.is_active else "no",
            ]
    elif kind == "responsibilities":
        day = on or timezone.localdate()
        # What is in force today and what is scheduled; ended rows stay in the history pages.
        rows = (
            Responsibility.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
            .select_related("organisation", "district", "community", "point", "category")
            .order_by(
                "kind",
                "district__code",
                "community__code",
                "point__code",
                "category__code",
                "valid_from",
            )
        )
        for responsibility in rows:
            yield [
                responsibility.kind,
                responsibility.organisation.code,
                _code(responsibility.district),
                _code(responsibility.community),
                _code(responsibility.point),
                _code(responsibility.category),
                responsibility.lead_person,
                responsibility.lead_phone,
                responsibility.valid_from,
            ]
    else:
        raise ValueError(kind)


def export_csv(kind: str) -> Iterator[str]:
    """A CSV of one kind, UTF-8 with a BOM so Excel reads the Chinese correctly."""
    spec = SPECS[kind]
    numeric = [column.numeric for column in spec.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(spec.column_names)
    yield "\ufeff" + flush()
    for count, row in enumerate(export_rows(kind), start=1):
        writer.writerow(
            [
                "" if value is None else (value if numeric[i] else formula_safe(str(value)))
                for i, value in enumerate(row)
            ]
        )
        if count % 500 == 0:
            yield flush()
    yield flush()


def export_xlsx(kinds: Iterable[str] = KIND_ORDER, *, with_rows: bool = True) -> bytes:
    """A workbook with one sheet per kind, streamed row by row (write-only mode).

    Without rows it is the empty template an admin fills in.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for kind in kinds:
        spec = SPECS[kind]
        worksheet = workbook.create_sheet(title=kind)
        header = []
        for name in spec.column_names:
            cell = WriteOnlyCell(worksheet, value=name)
            cell.font = bold
            header.append(cell)
        worksheet.append(header)
        numeric = [column.numeric for column in spec.columns]
        for row in export_rows(kind) if with_rows else ():
            cells = []
            for index, value in enumerate(row):
                if value is None or value == "":
                    cells.append(None)
                elif numeric[index]:
                    cells.append(value)
                else:
                    # Text cells stay text: openpyxl would otherwise store "=..." as a formula.
                    cell = WriteOnlyCell(worksheet, value=str(value))
                    cell.data_type = "s"
                    cells.append(cell)
            worksheet.append(cells)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
