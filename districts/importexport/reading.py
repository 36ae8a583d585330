"""Reading uploaded XLSX and CSV files into sheets of text cells keyed by column name."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext as _

from districts.importexport.specs import (
    FORMAT_CSV,
    FORMAT_XLSX,
    FORMULA_PREFIXES,
    MAX_ROWS_PER_SHEET,
    MAX_UNPACKED_BYTES,
    SPECS,
)


class ImportFileError(Exception):
    """The file as a whole cannot be read (wrong format, unreadable, too big)."""


@dataclass
class Sheet:
    """The rows of one kind as text cells keyed by column name."""

    kind: str
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def _normalise_header(value: Any) -> str:
    return _cell_text(value).lstrip("\ufeff").strip().lower()


def _sheet_from_rows(kind: str, rows: Iterator[Iterable[Any]]) -> Sheet:
    try:
        header_row = next(rows)
    except StopIteration:
        return Sheet(kind=kind, headers=[], rows=[])
    headers = [_normalise_header(value) for value in header_row]
    # Trailing empty header cells are common in spreadsheets; drop them.
    while headers and not headers[-1]:
        headers.pop()
    records: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(rows, start=2):
        cells = [_cell_text(value) for value in values]
        if not any(cells):
            continue
        if len(records) >= MAX_ROWS_PER_SHEET:
            raise ImportFileError(
                _("A sheet may hold at most %(count)s rows.") % {"count": MAX_ROWS_PER_SHEET}
            )
        records.append(
            (
                number,
                {
                    header: cells[index] if index < len(cells) else ""
                    for index, header in enumerate(headers)
                    if header
                },
            )
        )
    return Sheet(kind=kind, headers=[header for header in headers if header], rows=records)


def detect_kind(headers: Iterable[str]) -> str | None:
    """The one kind whose columns fit a header row, or None when none or several do."""
    present = set(headers)
    fitting = [
        kind
        for kind, spec in SPECS.items()
        if set(spec.required_columns) <= present and present <= set(spec.column_names)
    ]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        # Unknown extra columns: take the most specific kind and let the header check name them.
        for kind in ("responsibilities", "points", "communities"):
            if set(SPECS[kind].required_columns) <= present:
                return kind
    return None


def _kind_for_sheet_name(name: str) -> str | None:
    key = name.strip().lower()
    for kind, spec in SPECS.items():
        if key in (kind, kind.rstrip("s"), str(spec.label).lower()):
            return kind
    return None


def read_xlsx(file: IO[bytes]) -> tuple[list[Sheet], list[str]]:
    """Sheets of a workbook named after the kinds; streams rows without loading the workbook."""
    import zipfile

    from openpyxl import load_workbook

    try:
        # zipfile never unpacks more than an entry declares (more fails its check), so the
        # declared sizes bound what openpyxl can be made to read.
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ImportFileError(_("This is not a readable XLSX workbook.")) from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            _("This workbook unpacks to more than %(size)s MB; split it into smaller files.")
            % {"size": MAX_UNPACKED_BYTES // (1024 * 1024)}
        )
    file.seek(0)
    # openpyxl parses through defusedxml (a requirement), so an external entity or an entity
    # bomb raises DefusedXmlException (a ValueError); broken XML raises ParseError (a
    # SyntaxError). Rows are parsed lazily, so reading them is guarded as well.
    unreadable = (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError, TypeError)
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except unreadable as error:
        raise ImportFileError(_("This is not a readable XLSX workbook.")) from error
    sheets: list[Sheet] = []
    ignored: list[str] = []
    try:
        for worksheet in workbook.worksheets:
            kind = _kind_for_sheet_name(worksheet.title)
            if kind is None:
                ignored.append(worksheet.title)
                continue
            sheets.append(_sheet_from_rows(kind, worksheet.iter_rows(values_only=True)))
    except ImportFileError:
        raise
    except unreadable as error:
        raise ImportFileError(_("This is not a readable XLSX workbook.")) from error
    finally:
        workbook.close()
    return sheets, ignored


def _decode_csv(data: bytes) -> str:
    # UTF-8 (with or without BOM) first; Excel on Chinese Windows saves CSV as GB18030/GBK.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as error:
            raise ImportFileError(_("The CSV file is neither UTF-8 nor GB18030 text.")) from error


def read_csv(file: IO[bytes], *, kind: str | None = None) -> Sheet:
    """One kind from a CSV file; the kind is given or recognised from the header."""
    text = _decode_csv(file.read())
    if "\x00" in text:
        # PostgreSQL refuses NUL in text: say so now rather than fail at confirm.
        raise ImportFileError(
            _("The file contains NUL characters, so it is not CSV text. Save it again as CSV.")
        )
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        if "\t" in first_line:
            delimiter = "\t"
        elif ";" in first_line:
            delimiter = ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = iter(reader)
    try:
        first = next(rows)
    except StopIteration as error:
        raise ImportFileError(_("The file is empty.")) from error
    headers = [_normalise_header(value) for value in first]
    chosen = kind or detect_kind(headers)
    if chosen is None:
        raise ImportFileError(
            _("Cannot tell what this file holds from its columns; choose the kind of data.")
        )

    def with_header() -> Iterator[list[str]]:
        yield first
        yield from rows

    try:
        return _sheet_from_rows(chosen, with_header())
    except csv.Error as error:
        raise ImportFileError(
            _("The CSV file is malformed: %(error)s") % {"error": error}
        ) from error


def read_upload(
    file: IO[bytes], *, file_format: str, kind: str | None = None
) -> tuple[list[Sheet], list[str]]:
    """The sheets of an uploaded file in either format, and the names of sheets ignored."""
    if file_format == FORMAT_XLSX:
        return read_xlsx(file)
    if file_format == FORMAT_CSV:
        return [read_csv(file, kind=kind)], []
    raise ImportFileError(_("Upload a .xlsx or .csv file."))


def format_for_name(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return FORMAT_XLSX
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return FORMAT_CSV
    return None
