"""Small helpers for the workbooks the stats app writes (openpyxl, write-only mode)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from districts.importexport.specs import formula_safe


def cell(worksheet: Any, value: Any, *, bold: bool = False) -> Any:
    """A write-only cell: numbers stay numbers, datetimes become local wall-clock times,
    everything else is neutralised text."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).replace(tzinfo=None)
        result = WriteOnlyCell(worksheet, value=value)
        result.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, bool) or value is None or isinstance(value, int | float):
        result = WriteOnlyCell(worksheet, value=value)
    else:
        result = WriteOnlyCell(worksheet, value=formula_safe(str(value)))
        result.data_type = "s"
    if bold:
        result.font = Font(bold=True)
    return result


def row(worksheet: Any, values: list[Any], *, bold: bool = False) -> list[Any]:
    return [cell(worksheet, value, bold=bold) for value in values]
