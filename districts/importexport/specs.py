"""The kinds of data that import and export handle, and their documented columns."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy

from districts.models import (
    Organisation,
    OwnerKind,
)

FORMAT_XLSX = "xlsx"
FORMAT_CSV = "csv"
KIND_ORDER = ("districts", "communities", "points", "organisations", "responsibilities")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# What a workbook may unpack to: its XML parts (the shared strings whole) are parsed in memory,
# and a few MB of zip can declare gigabytes. 200 000 rows of points unpack to about 60 MB.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
# Enough rows for a province's points; the planner holds one small dict per row.
MAX_ROWS_PER_SHEET = 200_000
BATCH_SIZE = 1000
UPLOAD_DIRECTORY = "imports"
UPLOAD_LIFETIME = datetime.timedelta(hours=24)
# Spreadsheet programs run a text cell starting with these as a formula (a leading tab, CR or
# LF is skipped by some and the formula after it still runs); exports prefix such cells with an
# apostrophe and imports remove it again, so files round-trip.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def formula_safe(value: Any) -> Any:
    """The value, with an apostrophe before a text that a spreadsheet would run as a formula.

    The one guard of every CSV and XLSX export (the zone data here, the issue ledger in
    `issues.exports`); values that are not text pass unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


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
