"""Rows of the workbooks the stats app writes (XlsxWriter)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from districts.importexport.specs import formula_safe


def write_row(
    sheet: Any, row: int, values: list[Any], *, stamp: Any, text_format: Any = None
) -> None:
    """One row: numbers stay numbers, datetimes become Asia/Shanghai wall-clock times (in the
    `stamp` format), everything else is text no spreadsheet runs as a formula (in
    `text_format`, e.g. bold for a header). Empty values leave their cell empty."""
    for column, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            local = timezone.localtime(value).replace(tzinfo=None)
            sheet.write_datetime(row, column, local, stamp)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, int | float):
            sheet.write_number(row, column, value)
        else:
            sheet.write_string(row, column, formula_safe(str(value)), text_format)
