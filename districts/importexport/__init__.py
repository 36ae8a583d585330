"""Bulk import and export of places, organisations and responsibilities (CSV and XLSX).

Codes are the keys: importing a row whose code exists updates only the columns the file has,
and a row equal to the database is reported as unchanged, so re-importing a file (or importing
an export) changes nothing. An import is planned first — every bad cell of every row is
reported with its row number and column — and written only when the plan has no errors, all in
one transaction.

Row numbers are the spreadsheet's: the header is row 1, the first record row 2.
"""

from districts.importexport.exporting import export_csv, export_rows, export_xlsx
from districts.importexport.plan import (
    ImportPlan,
    ImportResult,
    KindPlan,
    RowError,
    import_apply,
)
from districts.importexport.planners import import_plan
from districts.importexport.reading import (
    ImportFileError,
    Sheet,
    detect_kind,
    format_for_name,
    read_csv,
    read_upload,
    read_xlsx,
)
from districts.importexport.specs import (
    FORMAT_CSV,
    FORMAT_XLSX,
    KIND_ORDER,
    MAX_UPLOAD_BYTES,
    SPECS,
    ColumnSpec,
    KindSpec,
)
from districts.importexport.uploads import (
    StoredUpload,
    upload_bytes,
    upload_cleanup,
    upload_discard,
    upload_load,
    upload_store,
)

__all__ = [
    "FORMAT_CSV",
    "FORMAT_XLSX",
    "KIND_ORDER",
    "MAX_UPLOAD_BYTES",
    "SPECS",
    "ColumnSpec",
    "ImportFileError",
    "ImportPlan",
    "ImportResult",
    "KindPlan",
    "KindSpec",
    "RowError",
    "Sheet",
    "StoredUpload",
    "detect_kind",
    "export_csv",
    "export_rows",
    "export_xlsx",
    "format_for_name",
    "import_apply",
    "import_plan",
    "read_csv",
    "read_upload",
    "read_xlsx",
    "upload_bytes",
    "upload_cleanup",
    "upload_discard",
    "upload_load",
    "upload_store",
]
