"""Small builders shared by the assignments tests."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    """A workbook with one sheet per key; the first row of each is the header."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        worksheet = workbook.create_sheet(title)
        for row in rows:
            worksheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def csv_bytes(rows: list[list[Any]], *, bom: bool = True) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")
