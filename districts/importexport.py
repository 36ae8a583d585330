"""Bulk import and export of places, organisations and responsibilities (CSV and XLSX).

Codes are the keys: importing a row whose code exists updates only the columns the file has,
and a row equal to the database is reported as unchanged, so re-importing a file (or importing
an export) changes nothing. An import is planned first — every bad cell of every row is
reported with its row number and column — and written only when the plan has no errors, all in
one transaction.

Row numbers are the spreadsheet's: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_slug
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    PointType,
    Responsibility,
    Zone,
)
from districts.services import audit_record, responsibility_validate_slot

FORMAT_XLSX = "xlsx"
FORMAT_CSV = "csv"
KIND_ORDER = ("districts", "communities", "points", "organisations", "responsibilities")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Enough rows for a province's points; the planner holds one small dict per row.
MAX_ROWS_PER_SHEET = 200_000
BATCH_SIZE = 1000
UPLOAD_DIRECTORY = "imports"
UPLOAD_LIFETIME = datetime.timedelta(hours=24)
# Spreadsheet programs run a text cell starting with these as a formula; exports prefix
# such cells with an apostrophe and imports remove it again, so files round-trip.
FORMULA_PREFIXES = ("=", "+", "-", "@")


@dataclass(frozen=True)
class ColumnSpec:
    """One documented column of an import/export sheet."""

    name: str
    help: Any
    required: bool = False
    numeric: bool = False


@dataclass(frozen=True)
class KindSpec:
    """One kind of data with its sheet (XLSX) or file (CSV) and its columns."""

    kind: str
    label: Any
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]


def _choices_help(choices: type[models.TextChoices]) -> str:
    return ", ".join(choices.values)


SPECS: dict[str, KindSpec] = {
    "districts": KindSpec(
        "districts",
        gettext_lazy("Districts"),
        (
            ColumnSpec("code", gettext_lazy("Unique code (letters, digits, - and _)."), True),
            ColumnSpec("name", gettext_lazy("Chinese name."), True),
            ColumnSpec("name_en", gettext_lazy("English name.")),
            ColumnSpec("kind", gettext_lazy("street or town.")),
            ColumnSpec(
                "sort_order", gettext_lazy("Position in lists (a whole number)."), numeric=True
            ),
            ColumnSpec("zone_code", gettext_lazy("Zone code; empty means the default zone.")),
        ),
    ),
    "communities": KindSpec(
        "communities",
        gettext_lazy("Communities"),
        (
            ColumnSpec("code", gettext_lazy("Unique code (letters, digits, - and _)."), True),
            ColumnSpec("name", gettext_lazy("Chinese name."), True),
            ColumnSpec("name_en", gettext_lazy("English name.")),
            ColumnSpec("district_code", gettext_lazy("Code of its district."), True),
            ColumnSpec("kind", gettext_lazy("community or village.")),
            ColumnSpec("households", gettext_lazy("Number of households."), numeric=True),
            ColumnSpec("residents", gettext_lazy("Number of residents."), numeric=True),
            ColumnSpec("latitude", gettext_lazy("WGS84 latitude, e.g. 43.65."), numeric=True),
            ColumnSpec("longitude", gettext_lazy("WGS84 longitude, e.g. 122.25."), numeric=True),
        ),
    ),
    "points": KindSpec(
        "points",
        gettext_lazy("Inspection points"),
        (
            ColumnSpec("code", gettext_lazy("Unique code (letters, digits, - and _)."), True),
            ColumnSpec("name", gettext_lazy("Chinese name."), True),
            ColumnSpec("point_type_code", gettext_lazy("Code of the point type."), True),
            ColumnSpec("community_code", gettext_lazy("Code of its community."), True),
            ColumnSpec("address", gettext_lazy("Street address.")),
            ColumnSpec("latitude", gettext_lazy("WGS84 latitude, e.g. 43.65."), True, numeric=True),
            ColumnSpec(
                "longitude", gettext_lazy("WGS84 longitude, e.g. 122.25."), True, numeric=True
            ),
            ColumnSpec("is_active", gettext_lazy("yes or no; empty means yes.")),
        ),
    ),
    "organisations": KindSpec(
        "organisations",
        gettext_lazy("Organisations"),
        (
            ColumnSpec("code", gettext_lazy("Unique code (letters, digits, - and _)."), True),
            ColumnSpec("name", gettext_lazy("Chinese name."), True),
            ColumnSpec("name_en", gettext_lazy("English name.")),
            ColumnSpec("kind", _choices_help(Organisation.Kind), True),
            ColumnSpec("parent_code", gettext_lazy("Code of the parent organisation.")),
            ColumnSpec(
                "district_code", gettext_lazy("For street and community offices: their district.")
            ),
            ColumnSpec("contact_name", gettext_lazy("Contact person.")),
            ColumnSpec("contact_phone", gettext_lazy("Contact phone.")),
            ColumnSpec("is_active", gettext_lazy("yes or no; empty means yes.")),
        ),
    ),
    "responsibilities": KindSpec(
        "responsibilities",
        gettext_lazy("Responsibilities"),
        (
            ColumnSpec("kind", _choices_help(OwnerKind), True),
            ColumnSpec("organisation_code", gettext_lazy("Code of the organisation."), True),
            ColumnSpec(
                "district_code",
                gettext_lazy("territorial: the whole district; sector: one district only."),
            ),
            ColumnSpec("community_code", gettext_lazy("territorial or paired: one community.")),
            ColumnSpec("point_code", gettext_lazy("paired: one inspection point.")),
            ColumnSpec("category_code", gettext_lazy("sector: the category owned.")),
            ColumnSpec("lead_person", gettext_lazy("Lead person.")),
            ColumnSpec("lead_phone", gettext_lazy("Lead person's phone.")),
            ColumnSpec("valid_from", gettext_lazy("First day in force, YYYY-MM-DD."), True),
        ),
    ),
}


# --- plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One bad cell (or a whole-sheet problem when row is 1 and column names the header)."""

    kind: str
    row: int
    column: str
    message: str

    @property
    def kind_label(self) -> str:
        spec = SPECS.get(self.kind)
        return str(spec.label) if spec else self.kind


@dataclass
class KindPlan:
    """What importing one sheet would do."""

    kind: str
    create: list[models.Model] = field(default_factory=list)
    update: list[models.Model] = field(default_factory=list)
    update_fields: set[str] = field(default_factory=set)
    unchanged: int = 0
    # Responsibilities only: existing rows that new assignments end.
    end: list[Responsibility] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(SPECS[self.kind].label)

    @property
    def total(self) -> int:
        return len(self.create) + len(self.update) + self.unchanged

    def keys(self) -> dict[str, list[str]]:
        return {
            "create": sorted(_object_key(obj) for obj in self.create),
            "update": sorted(_object_key(obj) for obj in self.update),
            "end": sorted(_object_key(obj) for obj in self.end),
        }


@dataclass
class ImportPlan:
    """The outcome of reading and checking a file; written only when `errors` is empty."""

    kinds: dict[str, KindPlan] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors and any(plan.total for plan in self.kinds.values())

    @property
    def has_changes(self) -> bool:
        return any(plan.create or plan.update or plan.end for plan in self.kinds.values())

    @property
    def bad_rows(self) -> int:
        return len({(error.kind, error.row) for error in self.errors})

    def ordered(self) -> list[KindPlan]:
        return [self.kinds[kind] for kind in KIND_ORDER if kind in self.kinds]

    def fingerprint(self) -> str:
        """A digest of what the plan would write, to tell whether the data moved since preview."""
        import hashlib

        content = json.dumps(
            {kind: plan.keys() for kind, plan in sorted(self.kinds.items())}, sort_keys=True
        )
        return hashlib.sha256(content.encode()).hexdigest()


def _object_key(obj: models.Model) -> str:
    if isinstance(obj, Responsibility):
        return "|".join(
            [
                obj.kind,
                obj.organisation.code,
                obj.district.code if obj.district else "",
                obj.community.code if obj.community else "",
                obj.point.code if obj.point else "",
                obj.category.code if obj.category else "",
                obj.valid_from.isoformat(),
            ]
        )
    return str(obj.code)


class ImportFileError(Exception):
    """The file as a whole cannot be read (wrong format, unreadable, too big)."""


@dataclass
class Sheet:
    """The rows of one kind as text cells keyed by column name."""

    kind: str
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]


# --- reading files --------------------------------------------------------------------------------


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
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
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


# --- planning -------------------------------------------------------------------------------------


class _CellError(Exception):
    pass


_YES = {"yes", "y", "true", "1", "是", "有效", "启用"}
_NO = {"no", "n", "false", "0", "否", "无效", "停用"}


class _Row:
    """Typed access to one record's cells; collects every bad cell instead of stopping."""

    def __init__(self, kind: str, number: int, cells: dict[str, str], errors: list[RowError]):
        self.kind = kind
        self.number = number
        self.cells = cells
        self.errors = errors
        self.failed = False

    def has(self, column: str) -> bool:
        return column in self.cells

    def raw(self, column: str) -> str:
        return self.cells.get(column, "")

    def error(self, column: str, message: str) -> None:
        self.failed = True
        self.errors.append(RowError(self.kind, self.number, column, message))

    def _read(self, column: str, parse: Any) -> Any:
        try:
            return parse(self.raw(column))
        except _CellError as error:
            self.error(column, str(error))
            return None

    def text(self, column: str, *, max_length: int, required: bool = False) -> str:
        def parse(value: str) -> str:
            if required and not value:
                raise _CellError(_("This column is required."))
            if len(value) > max_length:
                raise _CellError(
                    _("At most %(count)s characters (this has %(length)s).")
                    % {"count": max_length, "length": len(value)}
                )
            return value

        return self._read(column, parse) or ""

    def code(self, column: str, *, max_length: int, required: bool = True) -> str:
        def parse(value: str) -> str:
            if not value:
                if required:
                    raise _CellError(_("This column is required."))
                return ""
            try:
                validate_slug(value)
            except ValidationError as error:
                raise _CellError(
                    _("A code may contain only letters, digits, hyphens and underscores.")
                ) from error
            if len(value) > max_length:
                raise _CellError(
                    _("At most %(count)s characters (this has %(length)s).")
                    % {"count": max_length, "length": len(value)}
                )
            return value

        return self._read(column, parse) or ""

    def integer(self, column: str) -> int | None:
        def parse(value: str) -> int | None:
            if not value:
                return None
            try:
                number = Decimal(value.replace(",", ""))
            except InvalidOperation as error:
                raise _CellError(_("Enter a whole number.")) from error
            if number != number.to_integral_value() or number < 0 or number > 2_147_483_647:
                raise _CellError(_("Enter a whole number that is zero or more."))
            return int(number)

        return self._read(column, parse)

    def coordinate(self, column: str, *, limit: int, required: bool) -> Decimal | None:
        def parse(value: str) -> Decimal | None:
            if not value:
                if required:
                    raise _CellError(_("This column is required."))
                return None
            try:
                number = Decimal(value)
            except InvalidOperation as error:
                raise _CellError(_("Enter a number in decimal degrees, e.g. 43.65.")) from error
            if not number.is_finite() or not -limit <= number <= limit:
                raise _CellError(_("Must be between -%(limit)s and %(limit)s.") % {"limit": limit})
            return number.quantize(Decimal("0.000001"))

        return self._read(column, parse)

    def boolean(self, column: str, *, default: bool) -> bool:
        def parse(value: str) -> bool:
            if not value:
                return default
            if value.lower() in _YES:
                return True
            if value.lower() in _NO:
                return False
            raise _CellError(_("Enter yes or no."))

        result = self._read(column, parse)
        return default if result is None else result

    def choice(self, column: str, choices: type[models.TextChoices], *, default: str | None) -> str:
        def parse(value: str) -> str:
            if not value:
                if default is None:
                    raise _CellError(_("This column is required."))
                return default
            lowered = value.lower()
            if lowered in choices.values:
                return lowered
            for choice_value, label in choices.choices:
                if value in (str(label), choice_value):
                    return choice_value
            raise _CellError(
                _("Unknown value %(value)s; use one of: %(choices)s.")
                % {"value": value, "choices": ", ".join(choices.values)}
            )

        return self._read(column, parse) or (default or "")

    def date(self, column: str) -> datetime.date | None:
        def parse(value: str) -> datetime.date:
            if not value:
                raise _CellError(_("This column is required."))
            try:
                return datetime.date.fromisoformat(value[:10].replace("/", "-"))
            except ValueError as error:
                raise _CellError(_("Enter a date as YYYY-MM-DD.")) from error

        return self._read(column, parse)


def _max_length(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length  # type: ignore[return-value]


@dataclass
class _Context:
    """Objects by code: what the database has, overlaid with what the file creates or changes."""

    zone: Zone | None
    districts: dict[str, District]
    communities: dict[str, Community]
    points: dict[str, InspectionPoint]
    organisations: dict[str, Organisation]
    point_types: dict[str, PointType]
    categories: dict[str, Category]
    # Codes of rows in this file that had errors, so references to them explain themselves.
    bad: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _collect_codes(sheets: list[Sheet]) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = defaultdict(set)
    columns = {
        "district_code": "districts",
        "community_code": "communities",
        "point_code": "points",
        "organisation_code": "organisations",
        "parent_code": "organisations",
        "point_type_code": "point_types",
        "category_code": "categories",
        "zone_code": "zones",
    }
    for sheet in sheets:
        for _number, cells in sheet.rows:
            if sheet.kind != "responsibilities" and cells.get("code"):
                codes[sheet.kind].add(cells["code"])
            for column, kind in columns.items():
                if cells.get(column):
                    codes[kind].add(cells[column])
    return codes


def _default_zone() -> Zone | None:
    from django.conf import settings

    zones = list(Zone.objects.order_by("pk")[:2])
    preferred = getattr(settings, "DEFAULT_ZONE_CODE", "")
    for zone in zones:
        if zone.code == preferred:
            return zone
    if len(zones) == 1:
        return zones[0]
    return Zone.objects.filter(code=preferred).first()


def _build_context(sheets: list[Sheet]) -> _Context:
    codes = _collect_codes(sheets)
    # One query per kind, for exactly the codes the file mentions.
    return _Context(
        zone=_default_zone(),
        districts={d.code: d for d in District.objects.filter(code__in=codes["districts"])},
        communities={c.code: c for c in Community.objects.filter(code__in=codes["communities"])},
        points={p.code: p for p in InspectionPoint.objects.filter(code__in=codes["points"])},
        organisations={
            o.code: o for o in Organisation.objects.filter(code__in=codes["organisations"])
        },
        point_types={t.code: t for t in PointType.objects.filter(code__in=codes["point_types"])},
        categories={c.code: c for c in Category.objects.filter(code__in=codes["categories"])},
    )


def _check_headers(sheet: Sheet, errors: list[RowError]) -> bool:
    spec = SPECS[sheet.kind]
    ok = True
    for column in spec.required_columns:
        if column not in sheet.headers:
            errors.append(RowError(sheet.kind, 1, column, _("This required column is missing.")))
            ok = False
    seen: set[str] = set()
    for column in sheet.headers:
        if column not in spec.column_names:
            errors.append(
                RowError(
                    sheet.kind,
                    1,
                    column,
                    _("Unknown column; the columns are: %(columns)s.")
                    % {"columns": ", ".join(spec.column_names)},
                )
            )
            ok = False
        elif column in seen:
            errors.append(RowError(sheet.kind, 1, column, _("This column appears twice.")))
            ok = False
        seen.add(column)
    return ok


def _stage(
    plan: KindPlan,
    *,
    model: type[models.Model],
    existing: models.Model | None,
    code: str,
    values: dict[str, Any],
) -> models.Model:
    """Queue a create, an update of the changed fields, or count the row as unchanged."""
    if existing is None:
        obj = model(code=code, **values)
        plan.create.append(obj)
        return obj
    changed = []
    for name, value in values.items():
        field_object = model._meta.get_field(name)
        if field_object.is_relation:
            current_id = getattr(existing, field_object.attname)
            if value is None and current_id is None:
                continue
            if value is not None and value.pk is not None and value.pk == current_id:
                continue
        elif getattr(existing, name) == value:
            continue
        setattr(existing, name, value)
        changed.append(name)
    if changed:
        plan.update.append(existing)
        plan.update_fields.update(changed)
    else:
        plan.unchanged += 1
    return existing


def _reference(
    row: _Row,
    column: str,
    lookup: dict[str, Any],
    bad: set[str],
    *,
    required: bool,
    what: str,
) -> Any:
    code = row.raw(column)
    if not code:
        if required:
            row.error(column, _("This column is required."))
        return None
    if code in lookup:
        return lookup[code]
    if code in bad:
        row.error(column, _("The row with code %(code)s has errors itself.") % {"code": code})
    else:
        row.error(column, str(_UNKNOWN_CODE[what]) % {"code": code})
    return None


_UNKNOWN_CODE = {
    "zone": gettext_lazy("No zone has the code %(code)s."),
    "district": gettext_lazy("No district has the code %(code)s."),
    "community": gettext_lazy("No community has the code %(code)s."),
    "point": gettext_lazy("No inspection point has the code %(code)s."),
    "point_type": gettext_lazy("No point type has the code %(code)s."),
    "organisation": gettext_lazy("No organisation has the code %(code)s."),
    "category": gettext_lazy("No category has the code %(code)s."),
}


def _duplicate(row: _Row, code: str, seen: dict[str, int]) -> bool:
    if code in seen:
        row.error("code", _("Duplicate code; also on row %(row)s.") % {"row": seen[code]})
        return True
    seen[code] = row.number
    return False


def _plan_districts(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    zones: dict[str, Zone] = {}
    zone_codes = {cells.get("zone_code") for _n, cells in sheet.rows if cells.get("zone_code")}
    if zone_codes:
        zones = {zone.code: zone for zone in Zone.objects.filter(code__in=zone_codes)}
    for number, cells in sheet.rows:
        row = _Row("districts", number, cells, errors)
        code = row.code("code", max_length=_max_length(District, "code"))
        values: dict[str, Any] = {"name": row.text("name", max_length=100, required=True)}
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("kind"):
            values["kind"] = row.choice("kind", District.Kind, default=District.Kind.STREET)
        if row.has("sort_order"):
            values["sort_order"] = row.integer("sort_order") or 0
        existing = ctx.districts.get(code)
        zone_code = row.raw("zone_code")
        if zone_code:
            values["zone"] = _reference(row, "zone_code", zones, set(), required=True, what="zone")
        elif existing is None:
            if ctx.zone is None:
                row.error("zone_code", _("There is no default zone; enter a zone code."))
            values["zone"] = ctx.zone
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["districts"].add(code)
            continue
        ctx.districts[code] = _stage(
            plan, model=District, existing=existing, code=code, values=values
        )


def _plan_communities(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        row = _Row("communities", number, cells, errors)
        code = row.code("code", max_length=_max_length(Community, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=100, required=True),
            "district": _reference(
                row,
                "district_code",
                ctx.districts,
                ctx.bad["districts"],
                required=True,
                what="district",
            ),
        }
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("kind"):
            values["kind"] = row.choice("kind", Community.Kind, default=Community.Kind.COMMUNITY)
        for column in ("households", "residents"):
            if row.has(column):
                values[column] = row.integer(column)
        if row.has("latitude"):
            values["latitude"] = row.coordinate("latitude", limit=90, required=False)
        if row.has("longitude"):
            values["longitude"] = row.coordinate("longitude", limit=180, required=False)
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["communities"].add(code)
            continue
        ctx.communities[code] = _stage(
            plan, model=Community, existing=ctx.communities.get(code), code=code, values=values
        )


def _plan_points(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        row = _Row("points", number, cells, errors)
        code = row.code("code", max_length=_max_length(InspectionPoint, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=120, required=True),
            "point_type": _reference(
                row,
                "point_type_code",
                ctx.point_types,
                set(),
                required=True,
                what="point_type",
            ),
            "community": _reference(
                row,
                "community_code",
                ctx.communities,
                ctx.bad["communities"],
                required=True,
                what="community",
            ),
            "latitude": row.coordinate("latitude", limit=90, required=True),
            "longitude": row.coordinate("longitude", limit=180, required=True),
        }
        if row.has("address"):
            values["address"] = row.text("address", max_length=200)
        if row.has("is_active"):
            values["is_active"] = row.boolean("is_active", default=True)
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["points"].add(code)
            continue
        ctx.points[code] = _stage(
            plan, model=InspectionPoint, existing=ctx.points.get(code), code=code, values=values
        )


def _plan_organisations(
    sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]
) -> None:
    seen: dict[str, int] = {}
    # First pass: every row's own cells. New organisations get their instance now so that
    # a parent further down the file can be referenced before it is staged.
    entries: list[tuple[_Row, Organisation, bool, dict[str, Any]]] = []
    for number, cells in sheet.rows:
        row = _Row("organisations", number, cells, errors)
        code = row.code("code", max_length=_max_length(Organisation, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=120, required=True),
            "kind": row.choice("kind", Organisation.Kind, default=None),
        }
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("district_code"):
            values["district"] = _reference(
                row,
                "district_code",
                ctx.districts,
                ctx.bad["districts"],
                required=False,
                what="district",
            )
        if row.has("contact_name"):
            values["contact_name"] = row.text("contact_name", max_length=60)
        if row.has("contact_phone"):
            values["contact_phone"] = row.text("contact_phone", max_length=30)
        if row.has("is_active"):
            values["is_active"] = row.boolean("is_active", default=True)
        if row.has("parent_code"):
            row.code("parent_code", max_length=_max_length(Organisation, "code"), required=False)
            if code and row.raw("parent_code") == code:
                row.error("parent_code", _("An organisation cannot be its own parent."))
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["organisations"].add(code)
            continue
        existing = ctx.organisations.get(code)
        organisation = existing or Organisation(code=code)
        ctx.organisations[code] = organisation
        entries.append((row, organisation, existing is None, values))

    # Second pass: parents, now that every organisation of the file is known.
    parent_of: dict[str, str | None] = dict(
        Organisation.objects.filter(parent__isnull=False).values_list("code", "parent__code")
    )
    for row, organisation, is_new, values in entries:
        if row.has("parent_code"):
            parent_code = row.raw("parent_code")
            parent = None
            if parent_code:
                parent = _reference(
                    row,
                    "parent_code",
                    ctx.organisations,
                    ctx.bad["organisations"],
                    required=False,
                    what="organisation",
                )
                if parent is None:
                    ctx.bad["organisations"].add(organisation.code)
                    continue
            values["parent"] = parent
            parent_of[organisation.code] = parent.code if parent else None
        if is_new:
            for name, value in values.items():
                setattr(organisation, name, value)
            plan.create.append(organisation)
        else:
            _stage(
                plan,
                model=Organisation,
                existing=organisation,
                code=organisation.code,
                values=values,
            )
    for row, organisation, _is_new, _values in entries:
        if not row.has("parent_code"):
            continue
        node = parent_of.get(organisation.code)
        for _step in range(len(parent_of) + 1):
            if node is None:
                break
            if node == organisation.code:
                row.error("parent_code", _("This parent would make a loop of organisations."))
                break
            node = parent_of.get(node)


_SlotKey = tuple[str, str, str, str, str]


def _slot_key(
    kind: str,
    district: District | None,
    community: Community | None,
    point: InspectionPoint | None,
    category: Category | None,
) -> _SlotKey:
    return (
        kind,
        district.code if district else "",
        community.code if community else "",
        point.code if point else "",
        category.code if category else "",
    )


def _plan_responsibilities(
    sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]
) -> None:
    staged: list[tuple[_Row, _SlotKey, Responsibility]] = []
    for number, cells in sheet.rows:
        row = _Row("responsibilities", number, cells, errors)
        kind = row.choice("kind", OwnerKind, default=None)
        organisation = _reference(
            row,
            "organisation_code",
            ctx.organisations,
            ctx.bad["organisations"],
            required=True,
            what="organisation",
        )
        district = _reference(
            row,
            "district_code",
            ctx.districts,
            ctx.bad["districts"],
            required=False,
            what="district",
        )
        community = _reference(
            row,
            "community_code",
            ctx.communities,
            ctx.bad["communities"],
            required=False,
            what="community",
        )
        point = _reference(
            row,
            "point_code",
            ctx.points,
            ctx.bad["points"],
            required=False,
            what="point",
        )
        category = _reference(
            row, "category_code", ctx.categories, set(), required=False, what="category"
        )
        lead_person = row.text("lead_person", max_length=60)
        lead_phone = row.text("lead_phone", max_length=30)
        valid_from = row.date("valid_from")
        if row.failed:
            continue
        try:
            responsibility_validate_slot(
                kind=kind, district=district, community=community, point=point, category=category
            )
        except ValidationError as error:
            row.error("kind", " ".join(error.messages))
            continue
        if organisation is not None and not organisation.is_active:
            row.error("organisation_code", _("This organisation is inactive."))
            continue
        candidate = Responsibility(
            kind=kind,
            organisation=organisation,
            district=district,
            community=community,
            point=point,
            category=category,
            lead_person=lead_person,
            lead_phone=lead_phone,
            valid_from=valid_from,
        )
        staged.append((row, _slot_key(kind, district, community, point, category), candidate))

    # Every assignment already in a slot the file touches, in one query.
    places = Q()
    for _row, key, _candidate in staged:
        kind, district_code, community_code, point_code, category_code = key
        if point_code:
            places |= Q(point__code=point_code)
        elif community_code:
            places |= Q(community__code=community_code)
        elif category_code:
            places |= Q(category__code=category_code)
        elif district_code:
            places |= Q(district__code=district_code)
    timelines: dict[_SlotKey, list[Responsibility]] = defaultdict(list)
    if staged:
        for existing in (
            Responsibility.objects.filter(places)
            .select_related("organisation", "district", "community", "point", "category")
            .order_by("valid_from", "pk")
        ):
            timelines[
                _slot_key(
                    existing.kind,
                    existing.district,
                    existing.community,
                    existing.point,
                    existing.category,
                )
            ].append(existing)

    ending: dict[int, Responsibility] = {}
    staged.sort(key=lambda item: (item[1], item[2].valid_from, item[0].number))
    for row, key, candidate in staged:
        timeline = timelines[key]
        match = next(
            (
                existing
                for existing in timeline
                if existing.valid_from == candidate.valid_from
                and existing.organisation.code == candidate.organisation.code
            ),
            None,
        )
        if match is not None:
            if match.pk is None:
                row.error("valid_from", _("The same assignment appears twice in this file."))
                continue
            changed = [
                name
                for name in ("lead_person", "lead_phone")
                if getattr(match, name) != getattr(candidate, name)
            ]
            if changed:
                # Contact details of an assignment are corrected in place; who owns the slot
                # and from when stays as it was.
                for name in changed:
                    setattr(match, name, getattr(candidate, name))
                plan.update.append(match)
                plan.update_fields.update(changed)
            else:
                plan.unchanged += 1
            continue
        later = [existing for existing in timeline if existing.valid_from >= candidate.valid_from]
        if later:
            row.error(
                "valid_from",
                _(
                    "%(organisation)s is already assigned here from %(date)s; "
                    "a new assignment must start after that date."
                )
                % {
                    "organisation": later[0].organisation.code,
                    "date": later[0].valid_from.isoformat(),
                },
            )
            continue
        for existing in timeline:
            if existing.valid_to is None or existing.valid_to > candidate.valid_from:
                existing.valid_to = candidate.valid_from
                if existing.pk is not None:
                    ending[existing.pk] = existing
        timeline.append(candidate)
        plan.create.append(candidate)
    plan.end = list(ending.values())


_PLANNERS = {
    "districts": _plan_districts,
    "communities": _plan_communities,
    "points": _plan_points,
    "organisations": _plan_organisations,
    "responsibilities": _plan_responsibilities,
}


def import_plan(sheets: list[Sheet], *, ignored_sheets: Iterable[str] = ()) -> ImportPlan:
    """Check every row of every sheet against the database and the file; write nothing."""
    plan = ImportPlan(ignored_sheets=list(ignored_sheets))
    by_kind: dict[str, Sheet] = {}
    for sheet in sheets:
        if sheet.kind in by_kind:
            plan.errors.append(
                RowError(sheet.kind, 1, "", _("The file has two sheets of this kind."))
            )
            continue
        by_kind[sheet.kind] = sheet
    ctx = _build_context(list(by_kind.values()))
    for kind in KIND_ORDER:
        sheet = by_kind.get(kind)
        if sheet is None:
            continue
        kind_plan = plan.kinds.setdefault(kind, KindPlan(kind=kind))
        if not _check_headers(sheet, plan.errors):
            continue
        _PLANNERS[kind](sheet, ctx, kind_plan, plan.errors)
    plan.errors.sort(key=lambda error: (KIND_ORDER.index(error.kind), error.row))
    return plan


@dataclass(frozen=True)
class ImportResult:
    """Counts of what an import wrote, per kind."""

    counts: dict[str, dict[str, int]]
    audit_id: int | None


def _counts(plan: ImportPlan) -> dict[str, dict[str, int]]:
    return {
        kind_plan.kind: {
            "created": len(kind_plan.create),
            "updated": len(kind_plan.update),
            "unchanged": kind_plan.unchanged,
            "ended": len(kind_plan.end),
        }
        for kind_plan in plan.ordered()
    }


@transaction.atomic
def import_apply(*, actor: Any, plan: ImportPlan, source_name: str = "") -> ImportResult:
    """Write a checked plan in one transaction with bulk statements; refuses a plan with errors."""
    if plan.errors:
        raise ValidationError(_("The file has errors; nothing was imported."))
    now = timezone.now()
    for kind_plan in plan.ordered():
        model = {
            "districts": District,
            "communities": Community,
            "points": InspectionPoint,
            "organisations": Organisation,
            "responsibilities": Responsibility,
        }[kind_plan.kind]
        if kind_plan.kind == "responsibilities":
            for row in kind_plan.end:
                row.ended_by = actor
                row.ended_at = now
            if kind_plan.end:
                Responsibility.objects.bulk_update(
                    kind_plan.end, ["valid_to", "ended_by", "ended_at"], batch_size=BATCH_SIZE
                )
            for row in kind_plan.create:
                row.created_by = actor
                row.created_at = now
        pending_parents: list[tuple[Organisation, Organisation]] = []
        if kind_plan.kind == "organisations":
            # A parent created by this same import has no id yet; link it after the insert.
            for organisation in kind_plan.create:
                if organisation.parent is not None and organisation.parent.pk is None:
                    pending_parents.append((organisation, organisation.parent))
                    organisation.parent = None
        try:
            if kind_plan.create:
                model.objects.bulk_create(kind_plan.create, batch_size=BATCH_SIZE)
            for organisation, parent in pending_parents:
                organisation.parent = parent
            if pending_parents:
                Organisation.objects.bulk_update(
                    [organisation for organisation, _parent in pending_parents],
                    ["parent"],
                    batch_size=BATCH_SIZE,
                )
            if kind_plan.update:
                model.objects.bulk_update(
                    kind_plan.update, sorted(kind_plan.update_fields), batch_size=BATCH_SIZE
                )
        except IntegrityError as error:
            raise ValidationError(
                _("The data changed while importing (%(error)s); check the file again.")
                % {"error": str(error).splitlines()[0]}
            ) from error
    counts = _counts(plan)
    audit = None
    if plan.has_changes:
        audit = audit_record(
            actor=actor,
            action="import",
            object_type="import",
            summary=_("Imported %(name)s: %(counts)s")
            % {
                "name": source_name or "-",
                "counts": "; ".join(
                    f"{kind} +{c['created']} ~{c['updated']} ={c['unchanged']}"
                    for kind, c in counts.items()
                ),
            },
            # The keys of what changed, capped so one huge import keeps a readable record.
            data={
                "file": source_name,
                "counts": counts,
                "keys": {
                    kind_plan.kind: {
                        verb: keys[:2000] for verb, keys in kind_plan.keys().items() if keys
                    }
                    for kind_plan in plan.ordered()
                },
            },
        )
    return ImportResult(counts=counts, audit_id=audit.pk if audit else None)


# --- uploads kept between preview and confirm ---------------------------------------------


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded file kept on the server between preview and confirm."""

    token: str
    user_id: int
    name: str
    file_format: str
    kind: str | None
    fingerprint: str

    @property
    def data_path(self) -> str:
        return f"{UPLOAD_DIRECTORY}/{self.token}/upload"


def _meta_path(token: str) -> str:
    return f"{UPLOAD_DIRECTORY}/{token}/meta.json"


def upload_store(
    *, user: Any, data: bytes, name: str, file_format: str, kind: str | None, fingerprint: str
) -> StoredUpload:
    """Keep the uploaded bytes under MEDIA_ROOT/imports/<uuid>/ with the uploader's id."""
    upload_cleanup()
    stored = StoredUpload(
        token=uuid.uuid4().hex,
        user_id=user.pk,
        name=name[:200],
        file_format=file_format,
        kind=kind,
        fingerprint=fingerprint,
    )
    default_storage.save(stored.data_path, ContentFile(data))
    meta = {
        "user_id": stored.user_id,
        "name": stored.name,
        "file_format": file_format,
        "kind": kind,
        "fingerprint": fingerprint,
        "created": timezone.now().isoformat(),
    }
    default_storage.save(_meta_path(stored.token), ContentFile(json.dumps(meta).encode()))
    return stored


def upload_load(*, user: Any, token: str) -> StoredUpload | None:
    """The stored upload of this user, or None (unknown, expired or someone else's)."""
    try:
        token = uuid.UUID(hex=token).hex
    except (ValueError, TypeError):
        return None
    if not default_storage.exists(_meta_path(token)):
        return None
    with default_storage.open(_meta_path(token)) as handle:
        meta = json.loads(handle.read())
    if meta.get("user_id") != user.pk:
        return None
    created = datetime.datetime.fromisoformat(meta["created"])
    if timezone.now() - created > UPLOAD_LIFETIME:
        upload_discard(token=token)
        return None
    return StoredUpload(
        token=token,
        user_id=meta["user_id"],
        name=meta["name"],
        file_format=meta["file_format"],
        kind=meta.get("kind"),
        fingerprint=meta["fingerprint"],
    )


def upload_bytes(stored: StoredUpload) -> bytes:
    """The bytes of a stored upload."""
    with default_storage.open(stored.data_path, "rb") as handle:
        return handle.read()


def upload_discard(*, token: str) -> None:
    for path in (f"{UPLOAD_DIRECTORY}/{token}/upload", _meta_path(token)):
        if default_storage.exists(path):
            default_storage.delete(path)


def upload_cleanup() -> None:
    """Forget uploads nobody confirmed within a day."""
    try:
        directories, _files = default_storage.listdir(UPLOAD_DIRECTORY)
    except (FileNotFoundError, NotImplementedError):
        return
    limit = timezone.now() - UPLOAD_LIFETIME
    for token in directories:
        try:
            modified = default_storage.get_modified_time(_meta_path(token))
        except (FileNotFoundError, OSError, NotImplementedError):
            modified = None
        if modified is None or modified < limit:
            upload_discard(token=token)


# --- export -------------------------------------------------------------------------------------


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


def _text_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


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
                "" if value is None else (value if numeric[i] else _text_safe(str(value)))
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
