"""Bulk import and export: all or nothing, every bad row reported, idempotent, round-trips."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import override
from openpyxl import load_workbook

from districts import importexport
from districts.models import (
    AuditEntry,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    Responsibility,
)
from tests.districts.assignment_helpers import csv_bytes, xlsx_bytes

POINT_HEADER = [
    "code",
    "name",
    "point_type_code",
    "community_code",
    "address",
    "latitude",
    "longitude",
]


def plan_xlsx(data: bytes) -> importexport.ImportPlan:
    sheets, ignored = importexport.read_upload(io.BytesIO(data), file_format="xlsx")
    return importexport.import_plan(sheets, ignored_sheets=ignored)


def plan_csv(data: bytes, kind: str | None = None) -> importexport.ImportPlan:
    sheets, ignored = importexport.read_upload(io.BytesIO(data), file_format="csv", kind=kind)
    return importexport.import_plan(sheets, ignored_sheets=ignored)


def snapshot() -> dict[str, list[tuple]]:
    """Everything an import may touch, as comparable tuples."""
    return {
        "districts": list(District.objects.order_by("code").values_list()),
        "communities": list(Community.objects.order_by("code").values_list()),
        "points": list(InspectionPoint.objects.order_by("code").values_list()),
        "organisations": list(Organisation.objects.order_by("code").values_list()),
        "responsibilities": list(Responsibility.objects.order_by("pk").values_list()),
    }


def good_workbook(world) -> dict[str, list[list]]:
    return {
        "districts": [
            ["code", "name", "name_en", "kind", "sort_order"],
            ["district-c", "科尔沁街道", "Horqin Street", "street", 3],
        ],
        "communities": [
            ["code", "name", "name_en", "district_code", "kind", "households", "residents"],
            ["community-c", "河畔花园社区", "Riverside", "district-c", "community", 1200, 3400],
        ],
        "points": [
            POINT_HEADER,
            [
                "point-c",
                "河畔花园早夜市",
                "WET_MARKET_T",
                "community-c",
                "河畔路1号",
                43.62,
                122.27,
            ],
        ],
        "organisations": [
            ["code", "name", "kind", "parent_code", "district_code"],
            ["org-c", "科尔沁街道办事处", "street_office", "", "district-c"],
            ["org-c-1", "河畔花园社区居委会", "community_office", "org-c", "district-c"],
        ],
        "responsibilities": [
            [
                "kind",
                "organisation_code",
                "district_code",
                "community_code",
                "point_code",
                "category_code",
                "lead_person",
                "lead_phone",
                "valid_from",
            ],
            [
                "territorial",
                "org-c",
                "district-c",
                "",
                "",
                "",
                "王主任",
                "13800000000",
                "2026-01-01",
            ],
            ["paired", "org-c-1", "", "", "point-c", "", "李四", "", datetime.date(2026, 2, 1)],
        ],
    }


def test_import_of_a_good_workbook_creates_everything_in_order(world):
    plan = plan_xlsx(xlsx_bytes(good_workbook(world)))
    assert plan.errors == []
    importexport.import_apply(actor=world.admin_zone, plan=plan, source_name="good.xlsx")
    point = InspectionPoint.objects.get(code="point-c")
    assert point.community.district.code == "district-c"
    assert point.latitude == Decimal("43.620000")
    assert Organisation.objects.get(code="org-c-1").parent.code == "org-c"
    paired = Responsibility.objects.get(kind=OwnerKind.PAIRED, point=point)
    assert paired.organisation.code == "org-c-1"
    assert paired.created_by == world.admin_zone
    assert AuditEntry.objects.filter(action="import").count() == 1


def test_import_reimporting_the_same_file_changes_nothing(world):
    data = xlsx_bytes(good_workbook(world))
    importexport.import_apply(actor=world.admin_zone, plan=plan_xlsx(data))
    before = snapshot()
    again = plan_xlsx(data)
    assert again.errors == []
    assert not again.has_changes
    assert {kind: plan.unchanged for kind, plan in again.kinds.items()} == {
        "districts": 1,
        "communities": 1,
        "points": 1,
        "organisations": 2,
        "responsibilities": 2,
    }
    importexport.import_apply(actor=world.admin_zone, plan=again)
    assert snapshot() == before
    assert AuditEntry.objects.filter(action="import").count() == 1


def test_import_with_three_bad_rows_writes_nothing_and_reports_each(world):
    rows = [
        POINT_HEADER,
        ["point-ok-1", "好点位", "WET_MARKET_T", "community-a", "", 43.6, 122.2],
        ["point-bad-1", "坏纬度", "WET_MARKET_T", "community-a", "", 95, 122.2],
        ["point-ok-2", "好点位2", "WET_MARKET_T", "community-a", "", 43.6, 122.2],
        ["point-bad-2", "未知社区", "WET_MARKET_T", "no-such-community", "", 43.6, 122.2],
        ["bad code!", "错误代码", "WET_MARKET_T", "community-a", "", 43.6, 122.2],
    ]
    before = snapshot()
    with override("en"):
        plan = plan_xlsx(xlsx_bytes({"points": rows}))
    assert [(error.row, error.column) for error in plan.errors] == [
        (3, "latitude"),
        (5, "community_code"),
        (6, "code"),
    ]
    assert "between -90 and 90" in plan.errors[0].message
    assert "no-such-community" in plan.errors[1].message
    assert plan.bad_rows == 3
    with pytest.raises(ValidationError):
        importexport.import_apply(actor=world.admin_zone, plan=plan)
    assert snapshot() == before


def test_import_error_messages_are_in_chinese_by_default(world):
    rows = [POINT_HEADER, ["point-x", "点", "WET_MARKET_T", "community-a", "", "abc", 122.2]]
    with override("zh-hans"):
        plan = plan_xlsx(xlsx_bytes({"points": rows}))
    assert plan.errors[0].column == "latitude"
    # The msgid is English; the zh_Hans catalogue (final i18n pass) translates it.
    assert plan.errors[0].message


def test_import_csv_with_three_bad_rows_reports_all_of_them(world):
    rows = [
        ["code", "name", "district_code", "households"],
        ["community-new", "新社区", "district-a", "100"],
        ["community-bad-1", "", "district-a", "100"],
        ["community-bad-2", "坏户数", "district-a", "-3"],
        ["community-new", "重复", "district-a", ""],
    ]
    before = snapshot()
    plan = plan_csv(csv_bytes(rows))
    assert plan.kinds.keys() == {"communities"}
    assert [(error.row, error.column) for error in plan.errors] == [
        (3, "name"),
        (4, "households"),
        (5, "code"),
    ]
    assert snapshot() == before


def test_import_refuses_missing_and_unknown_columns(world):
    plan = plan_xlsx(xlsx_bytes({"points": [["code", "name", "colour"], ["p", "n", "red"]]}))
    columns = {error.column for error in plan.errors if error.row == 1}
    assert {"point_type_code", "community_code", "latitude", "longitude", "colour"} <= columns


def test_import_csv_accepts_gb18030_from_chinese_excel(world):
    text = "code,name,district_code\r\ncommunity-gbk,团结社区,district-a\r\n"
    plan = plan_csv(text.encode("gb18030"))
    assert plan.errors == []
    importexport.import_apply(actor=world.admin_zone, plan=plan)
    assert Community.objects.get(code="community-gbk").name == "团结社区"


def test_import_updates_only_changed_rows_and_columns(world):
    world.community_a.households = 4904
    world.community_a.save()
    rows = [
        ["code", "name", "district_code", "residents"],
        ["community-a", "水域蓝湾社区", "district-a", 12600],
        ["community-b", "碧桂园社区", "district-b", ""],
    ]
    plan = plan_csv(csv_bytes(rows))
    assert [obj.code for obj in plan.kinds["communities"].update] == ["community-a"]
    assert plan.kinds["communities"].unchanged == 1
    importexport.import_apply(actor=world.admin_zone, plan=plan)
    world.community_a.refresh_from_db()
    # households was not a column of the file, so it kept its value.
    assert (world.community_a.households, world.community_a.residents) == (4904, 12600)


def test_import_of_a_new_assignment_ends_the_previous_one_and_keeps_it(world):
    org_z = Organisation.objects.create(code="org-z", name="新单位", kind="department")
    rows = [
        ["kind", "organisation_code", "district_code", "valid_from"],
        ["territorial", "org-z", "district-a", "2026-03-01"],
    ]
    plan = plan_csv(csv_bytes(rows))
    assert plan.errors == []
    assert len(plan.kinds["responsibilities"].end) == 1
    importexport.import_apply(actor=world.admin_zone, plan=plan)
    old = Responsibility.objects.get(organisation=world.org_x, district=world.district_a)
    assert old.valid_to == datetime.date(2026, 3, 1)
    assert old.ended_by == world.admin_zone
    assert Responsibility.objects.get(organisation=org_z).valid_from == datetime.date(2026, 3, 1)


def test_import_refuses_an_assignment_older_than_the_current_one(world):
    rows = [
        ["kind", "organisation_code", "district_code", "valid_from"],
        ["territorial", "org-y", "district-a", "2019-01-01"],
    ]
    plan = plan_csv(csv_bytes(rows))
    assert [(error.row, error.column) for error in plan.errors] == [(2, "valid_from")]


def test_import_refuses_an_assignment_of_the_wrong_shape(world):
    rows = [
        ["kind", "organisation_code", "community_code", "category_code", "valid_from"],
        ["paired", "org-x", "community-a", "GARBAGE_EXPOSED_T", "2026-01-01"],
        ["sector", "org-x", "", "", "2026-01-01"],
    ]
    plan = plan_csv(csv_bytes(rows))
    assert [(error.row, error.column) for error in plan.errors] == [(2, "kind"), (3, "kind")]


def test_import_refuses_a_loop_of_parent_organisations(world):
    rows = [
        ["code", "name", "kind", "parent_code"],
        ["org-p", "甲", "department", "org-q"],
        ["org-q", "乙", "department", "org-p"],
    ]
    plan = plan_csv(csv_bytes(rows))
    assert {(error.row, error.column) for error in plan.errors} == {
        (2, "parent_code"),
        (3, "parent_code"),
    }


def test_export_then_import_xlsx_leaves_the_data_unchanged(world):
    importexport.import_apply(
        actor=world.admin_zone, plan=plan_xlsx(xlsx_bytes(good_workbook(world)))
    )
    world.point_a.address = "=HYPERLINK(evil)"
    world.point_a.save()
    before = snapshot()
    data = importexport.export_xlsx()
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == list(importexport.KIND_ORDER)
    # Text that looks like a formula stays text in the workbook.
    addresses = [row[4] for row in workbook["points"].iter_rows(values_only=True)]
    assert "=HYPERLINK(evil)" in addresses
    assert workbook["points"]["A1"].value == "code"
    plan = plan_xlsx(data)
    assert plan.errors == []
    assert not plan.has_changes
    importexport.import_apply(actor=world.admin_zone, plan=plan)
    assert snapshot() == before


@pytest.mark.parametrize("kind", importexport.KIND_ORDER)
def test_export_then_import_csv_leaves_the_data_unchanged(world, kind):
    Responsibility.objects.create(
        kind=OwnerKind.SECTOR,
        organisation=world.org_y,
        category=world.category,
        valid_from=datetime.date(2024, 1, 1),
        lead_person="-张三",
    )
    world.org_y.parent = world.org_x
    world.org_y.save()
    before = snapshot()
    data = "".join(importexport.export_csv(kind)).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    plan = plan_csv(data)
    assert plan.errors == []
    assert plan.kinds.keys() == {kind}
    assert not plan.has_changes
    importexport.import_apply(actor=world.admin_zone, plan=plan)
    assert snapshot() == before


def test_export_lists_only_assignments_in_force_or_scheduled(world):
    Responsibility.objects.filter(organisation=world.org_y).update(
        valid_to=timezone.localdate() - datetime.timedelta(days=1)
    )
    rows = list(importexport.export_rows("responsibilities"))
    assert [row[1] for row in rows] == ["org-x"]


def test_import_upload_is_kept_for_its_uploader_only(world):
    stored = importexport.upload_store(
        user=world.admin_zone,
        data=b"code,name\n",
        name="x.csv",
        file_format="csv",
        kind=None,
        fingerprint="f",
    )
    assert importexport.upload_load(user=world.admin_zone, token=stored.token) == stored
    assert importexport.upload_load(user=world.supervisor_xincheng, token=stored.token) is None
    assert importexport.upload_load(user=world.admin_zone, token="../../etc/passwd") is None
    importexport.upload_discard(token=stored.token)
    assert importexport.upload_load(user=world.admin_zone, token=stored.token) is None
