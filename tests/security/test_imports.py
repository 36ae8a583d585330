"""Import uploads are limited in size, unpacked size and rows before anything is planned."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from districts.models import InspectionPoint
from tests.districts.assignment_helpers import csv_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("districts:import")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
HEADER = ["code", "name", "point_type_code", "community_code", "latitude", "longitude"]


def point_rows(count: int) -> list[list]:
    return [HEADER] + [
        [f"p-{n}", f"点位{n}", "WET_MARKET_T", "community-a", 43.6, 122.2] for n in range(count)
    ]


def file_errors(response) -> list[str]:
    return response.context["form"].errors.get("file", [])


def test_import_file_over_the_size_limit_is_refused(world, client, monkeypatch):
    monkeypatch.setattr("districts.importexport.MAX_UPLOAD_BYTES", 1024)
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("points.csv", csv_bytes(point_rows(100)))

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert response.status_code == 200
    assert any("larger than" in error for error in file_errors(response))
    assert not InspectionPoint.objects.filter(code="p-0").exists()


def test_workbook_that_unpacks_beyond_the_limit_is_refused_before_it_is_parsed(
    world, client, monkeypatch
):
    monkeypatch.setattr("districts.importexport.reading.MAX_UNPACKED_BYTES", 2000)
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("points.xlsx", xlsx_bytes({"points": point_rows(50)}))

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert response.status_code == 200
    assert any("unpacks to more than" in error for error in file_errors(response))


def test_sheet_with_more_rows_than_allowed_is_refused(world, client, monkeypatch):
    monkeypatch.setattr("districts.importexport.reading.MAX_ROWS_PER_SHEET", 10)
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("points.csv", csv_bytes(point_rows(11)))

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert any("at most 10 rows" in error for error in file_errors(response))
    assert not InspectionPoint.objects.filter(code="p-0").exists()


def test_a_file_that_is_not_a_zip_named_xlsx_is_refused(world, client):
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("points.xlsx", b"PK\x03\x04 not really a zip")

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert any("not a readable XLSX" in error for error in file_errors(response))


def test_import_tools_are_refused_to_a_supervisor(world, client):
    client.force_login(world.supervisor_xincheng)
    upload = SimpleUploadedFile("points.csv", csv_bytes(point_rows(1)))

    assert client.post(IMPORT_URL, {"file": upload}).status_code == 403
    assert not InspectionPoint.objects.filter(code="p-0").exists()


def _workbook_with_sheet_xml(sheet_xml: bytes) -> bytes:
    """A valid workbook whose first sheet's XML is replaced by the given bytes."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"points": point_rows(2)})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            target.writestr(entry, data)
    return out.getvalue()


SHEET_HEAD = b'<?xml version="1.0"?>'
HOSTILE_SHEETS = {
    "malformed": SHEET_HEAD + b"<worksheet><sheetData><row><c t='s'><v>0</v></row>",
    "external_entity": SHEET_HEAD
    + b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row>'
    + b"</sheetData></worksheet>",
    "billion_laughs": SHEET_HEAD
    + b'<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&d;</t></is></c></row>'
    + b"</sheetData></worksheet>",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_SHEETS))
def test_input_security_hostile_workbook_xml_is_refused_with_a_form_error(world, client, kind):
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("points.xlsx", _workbook_with_sheet_xml(HOSTILE_SHEETS[kind]))

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert response.status_code == 200
    assert any("not a readable XLSX" in error for error in file_errors(response))
    assert "root:" not in response.content.decode()


def test_input_csv_with_a_nul_is_refused_at_preview_not_at_confirm(world, client):
    client.force_login(world.admin_zone)
    rows = point_rows(2)
    rows[1][1] = "点位\x00零"
    upload = SimpleUploadedFile("points.csv", csv_bytes(rows))

    response = client.post(IMPORT_URL, {"file": upload}, **EN)

    assert response.status_code == 200
    assert any("NUL characters" in error for error in file_errors(response))
    assert not InspectionPoint.objects.filter(code="p-0").exists()
