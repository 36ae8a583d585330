"""The 整改台账 (rectification ledger): any filtered issue list as a workbook with thumbnails.

Rows are read in chunks of LEDGER_CHUNK ids (three queries per chunk: the issues with their
places, the events that name the fix note and the verifier, the first before and after photo),
and written with XlsxWriter's constant-memory mode. Thumbnails (never the originals) are inserted
by file path: XlsxWriter reads each once for its size and copies it into the zip at close, so
memory stays bounded by the chunk, not the export.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from issues.models import Action, EscalationLevel, Issue, IssueEvent, Photo, Status
from issues.photos import THUMBNAIL_LONGEST_SIDE
from stats.xlsx import write_row

LEDGER_CHUNK = 500
# Up to this many rows the ledger downloads at once; above, a background task builds it.
LEDGER_DIRECT_MAX = 2000
# The ledger's hard cap, the same as the list's CSV export.
LEDGER_MAX_ROWS = 200_000
# Thumbnails shown in their cells at this height (pixels); rows are made tall enough.
THUMB_HEIGHT = 60
ROW_HEIGHT_POINTS = 48


def ledger_columns() -> list[str]:
    """The ledger's columns, as the campaign office's 整改台账 names them."""
    return [
        _("No."),
        _("Case number"),
        _("District"),
        _("Community"),
        _("Inspection point"),
        _("Category"),
        _("Description"),
        _("Reporter"),
        _("Reported at"),
        _("Responsible organisation"),
        _("Dispatched at"),
        _("Rectification deadline"),
        _("Acknowledged at"),
        _("Fix submitted at"),
        _("Fix measures"),
        _("Verified by"),
        _("Verified at"),
        _("Closed at"),
        _("Rework count"),
        _("Extension count"),
        _("Is overdue"),
        _("Escalation level"),
        _("Closed out"),
        _("Before photo"),
        _("After photo"),
    ]


# The photo columns (X and Y), counted from 0.
BEFORE_COLUMN = 23
AFTER_COLUMN = 24


def _thumbnail_size(photo: Photo) -> tuple[int, int]:
    longest = max(photo.width, photo.height, 1)
    scale = min(1.0, THUMBNAIL_LONGEST_SIDE / longest)
    return round(photo.width * scale), round(photo.height * scale)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), LEDGER_CHUNK):
        yield ids[start : start + LEDGER_CHUNK]


def ledger_rows(
    queryset: QuerySet[Issue], now: datetime.datetime
) -> Iterator[tuple[list[Any], Photo | None, Photo | None]]:
    """(cells, first before photo, first after photo) per issue, in the list's order."""
    ids = list(queryset.values_list("pk", flat=True)[:LEDGER_MAX_ROWS])
    levels = dict(EscalationLevel.choices)
    yes, no = _("yes"), _("no")
    number = 0
    for chunk in _chunks(ids):
        issues = Issue.objects.filter(pk__in=chunk).select_related(
            "district", "community", "point", "category", "assigned_organisation", "reporter"
        )
        by_id = {issue.pk: issue for issue in issues}
        fix_notes: dict[int, str] = {}
        verifiers: dict[int, str] = {}
        events = (
            IssueEvent.objects.filter(
                issue_id__in=chunk,
                action__in=(Action.SUBMIT_FIX, Action.VERIFY_PASS, Action.VERIFY_FAIL),
            )
            .select_related("actor")
            .order_by("issue_id", "created_at", "id")
        )
        for event in events:
            if event.action == Action.SUBMIT_FIX:
                fix_notes[event.issue_id] = event.note
            elif event.actor is not None:
                verifiers[event.issue_id] = (
                    event.actor.get_full_name() or event.actor.get_username()
                )
        before: dict[int, Photo] = {}
        after: dict[int, Photo] = {}
        photos = (
            Photo.objects.filter(issue_id__in=chunk, kind__in=(Photo.Kind.BEFORE, Photo.Kind.AFTER))
            .only("id", "issue_id", "kind", "thumbnail", "width", "height", "created_at")
            .order_by("issue_id", "kind", "created_at", "id")
        )
        for photo in photos:
            target = before if photo.kind == Photo.Kind.BEFORE else after
            if photo.kind == Photo.Kind.AFTER:
                target[photo.issue_id] = photo  # the latest fix's photo
            else:
                target.setdefault(photo.issue_id, photo)
        for pk in chunk:
            issue = by_id.get(pk)
            if issue is None:
                continue
            number += 1
            reporter = issue.reporter.get_full_name() or issue.reporter.get_username()
            yield (
                [
                    number,
                    issue.case_number,
                    issue.district.display_name,
                    issue.community.display_name,
                    issue.point.name if issue.point else "",
                    issue.category.display_name,
                    issue.description,
                    reporter,
                    issue.reported_at,
                    issue.assigned_organisation.display_name if issue.assigned_organisation else "",
                    issue.dispatched_at,
                    issue.deadline,
                    issue.acknowledged_at,
                    issue.submitted_at,
                    fix_notes.get(pk, ""),
                    verifiers.get(pk, ""),
                    issue.verified_at,
                    issue.closed_at,
                    issue.rework_count,
                    issue.extension_count,
                    yes
                    if issue.is_overdue(now)
                    or (issue.closed_at and issue.deadline and issue.closed_at > issue.deadline)
                    else no,
                    str(levels.get(issue.escalation_level, issue.escalation_level)),
                    yes if issue.status == Status.CLOSED else no,
                ],
                before.get(pk),
                after.get(pk),
            )


def _local_path(photo: Photo, scratch: str) -> str | None:
    """A file path of the photo's thumbnail: the stored file itself on a local storage, else a
    copy in the export's scratch folder (XlsxWriter reads each picture by path, once at insert
    for its size and digest and once at close into the zip, and keeps none of them in memory)."""
    storage = photo.thumbnail.storage
    name = photo.thumbnail.name
    try:
        path = storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        return path if os.path.exists(path) else None
    target = os.path.join(scratch, f"{photo.pk}.jpg")
    try:
        with storage.open(name, "rb") as source, open(target, "wb") as copy:
            shutil.copyfileobj(source, copy)
    except OSError:
        return None
    return target


def write_ledger(
    queryset: QuerySet[Issue],
    output: BinaryIO,
    *,
    now: datetime.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the ledger of `queryset` (already restricted to the user's scope) to `output`.

    XlsxWriter in constant-memory mode: each row goes to a temporary file as it is written, and
    each thumbnail is inserted by path (its bytes are copied into the zip at close). openpyxl
    built every picture's anchor as an object tree and serialised it at save: 10,000 rows took
    minutes of descriptor calls and a peak of 170 MB.
    """
    import xlsxwriter

    now = now or timezone.now()
    with tempfile.TemporaryDirectory(prefix="ledger-") as scratch:
        workbook = xlsxwriter.Workbook(output, {"constant_memory": True, "tmpdir": scratch})
        sheet = workbook.add_worksheet(_("Rectification ledger")[:31])
        bold = workbook.add_format({"bold": True})
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        widths = [6, 14, 12, 14, 14, 14, 30, 10, 17, 16, 17, 17, 17, 17, 24, 10, 17, 17, 8, 8, 8,
                  12, 8, 12, 12]  # fmt: skip
        for index, width in enumerate(widths):
            sheet.set_column(index, index, width)
        sheet.set_default_row(ROW_HEIGHT_POINTS)
        sheet.freeze_panes(1, 2)
        for column, title in enumerate(ledger_columns()):
            sheet.write_string(0, column, title, bold)
        count = 0
        for values, before, after in ledger_rows(queryset, now):
            count += 1
            write_row(sheet, count, values, stamp=stamp)
            for column, photo in ((BEFORE_COLUMN, before), (AFTER_COLUMN, after)):
                if photo is None or not photo.thumbnail:
                    continue
                path = _local_path(photo, scratch)
                if path is None:
                    continue
                _width, height = _thumbnail_size(photo)
                scale = THUMB_HEIGHT / max(height, 1)
                options = {"x_scale": scale, "y_scale": scale, "x_offset": 2, "y_offset": 2}
                sheet.insert_image(count, column, path, options)
            if progress is not None and count % LEDGER_CHUNK == 0:
                progress(count)
        workbook.close()
    if progress is not None:
        progress(count)
    return count
