"""The 整改台账: columns, local times, embedded thumbnails, formula safety, the background task."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from issues import services as issue_services
from issues.models import Issue, Status
from stats import ledger
from stats.models import LedgerExport
from tests.factories import issue_in
from tests.issues.lifecycle_support import photos

pytestmark = pytest.mark.django_db

HEADERS = [
    "序号", "案件编号", "街道", "社区", "点位", "问题类别", "问题描述", "上报人", "上报时间",
    "责任单位", "派遣时间", "整改时限", "签收时间", "整改反馈时间", "整改措施", "核查人",
    "核查时间", "结案时间", "返工次数", "延期次数", "是否超期", "督办级别", "是否销号",
    "整改前照片", "整改后照片",
]  # fmt: skip


def _closed_case(world, description="垃圾未清运"):
    issue = issue_services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, description=description,
        point=world.point_a, latitude="43.650100", longitude="122.250200", photos=photos(1),
    )  # fmt: skip
    issue = issue_services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
    )
    issue = issue_services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
    issue = issue_services.issue_submit_fix(
        issue=issue, actor=world.handler_xincheng, photos=photos(1), note="已清运并消毒"
    )
    return issue_services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng)


def _workbook(response):
    content = b"".join(response.streaming_content)
    return content, load_workbook(io.BytesIO(content))


def test_ledger_has_the_columns_local_times_and_embedded_photos(client, world):
    issue = _closed_case(world)
    client.force_login(world.supervisor_xincheng)
    response = client.get(reverse("stats:ledger"), {"status": "closed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    content, workbook = _workbook(response)
    sheet = workbook.worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADERS
    values = [cell.value for cell in sheet[2]]
    assert values[0] == 1
    assert values[1] == issue.case_number
    assert values[2] == world.district_a.name
    assert values[4] == world.point_a.name
    assert values[9] == world.org_x.name
    from django.utils import timezone

    assert values[8] == timezone.localtime(issue.reported_at).replace(
        tzinfo=None, microsecond=values[8].microsecond
    )
    assert values[14] == "已清运并消毒"
    assert values[15] == "supervisor_xincheng"
    assert values[22] == "是"
    # Two thumbnails embedded as pictures, one before and one after.
    assert len(sheet._images) == 2
    media = [name for name in zipfile.ZipFile(io.BytesIO(content)).namelist() if "media" in name]
    # The test's before and after photos are the same picture: the workbook stores it once.
    assert len(media) == 1


def test_ledger_neutralises_cells_that_look_like_formulas(client, world):
    for text in ("=1+1", "+SUM(A1)", "-2+3", "@cmd"):
        issue_in(world, description=text)
    client.force_login(world.supervisor_xincheng)
    _content, workbook = _workbook(client.get(reverse("stats:ledger")))
    descriptions = [row[6].value for row in workbook.worksheets[0].iter_rows(min_row=2)]
    assert sorted(descriptions) == sorted(["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd"])
    for row in workbook.worksheets[0].iter_rows(min_row=2):
        assert row[6].data_type == "s"


def test_ledger_scope_follows_the_list_and_never_leaks(client, world):
    issue_in(world, where="a", description="A的案件")
    issue_in(world, where="b", description="B的案件")
    client.force_login(world.supervisor_binhe)
    _content, workbook = _workbook(client.get(reverse("stats:ledger")))
    descriptions = [row[6].value for row in workbook.worksheets[0].iter_rows(min_row=2)]
    assert descriptions == ["B的案件"]
    # Asking for district A by id is an invalid filter for supervisor_binhe, not a way in.
    response = client.get(reverse("stats:ledger"), {"district": world.district_a.pk})
    assert response.status_code == 400


def test_ledger_large_export_runs_as_a_task_with_progress(
    client, world, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("stats.views.LEDGER_DIRECT_MAX", 3)
    monkeypatch.setattr(ledger, "LEDGER_CHUNK", 2)
    for index in range(5):
        issue_in(world, description=f"案件{index}")
    client.force_login(world.supervisor_xincheng)
    page = client.get(reverse("stats:ledger"), {"status": ["reported"]})
    assert page.status_code == 200
    assert page.context["total"] == 5
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("stats:ledger_start"), {"query": "status=reported"})
    export = LedgerExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("stats:ledger_status", args=[export.pk])
    # The embedded demo and the tests run tasks eagerly: it is done by now.
    assert export.status == LedgerExport.Status.DONE
    assert (export.total, export.done, export.percent) == (5, 5, 100)
    status = client.get(response["Location"])
    assert "ledger-progress" in status.content.decode()
    download = client.get(reverse("stats:ledger_download", args=[export.pk]))
    _content, workbook = _workbook(download)
    assert workbook.worksheets[0].max_row == 6
    # Another user's export is not theirs to see.
    client.force_login(world.supervisor_binhe)
    assert client.get(reverse("stats:ledger_status", args=[export.pk])).status_code == 404
    assert client.get(reverse("stats:ledger_download", args=[export.pk])).status_code == 404


def test_ledger_task_is_queued_only_after_commit(world, django_capture_on_commit_callbacks):
    from stats import services

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = services.ledger_export_request(user=world.supervisor_xincheng, query="")
    assert len(callbacks) == 1
    assert LedgerExport.objects.get(pk=export.pk).status == LedgerExport.Status.PENDING
    callbacks[0]()
    assert LedgerExport.objects.get(pk=export.pk).status == LedgerExport.Status.DONE
    # A second run of the same task leaves the finished export alone.
    assert services.ledger_export_build(export_id=export.pk) is None


def test_ledger_start_needs_post(client, world):
    client.force_login(world.supervisor_xincheng)
    assert client.get(reverse("stats:ledger_start")).status_code == 405


def test_ledger_memory_stays_bounded_with_thumbnails(world):
    from tests.factories import IssueFactory

    issue = _closed_case(world)
    before = issue.photos.get(kind="before")
    after = issue.photos.get(kind="after")
    many = IssueFactory.create_batch(
        1200,
        community=world.community_a,
        category=world.category,
        reporter=world.inspector_xincheng,
    )
    from issues.models import Photo

    Photo.objects.bulk_create(
        [
            Photo(
                issue=case,
                kind=photo.kind,
                image=photo.image.name,
                thumbnail=photo.thumbnail.name,
                width=photo.width,
                height=photo.height,
                size_bytes=photo.size_bytes,
                sha256=photo.sha256,
                uploaded_by=world.inspector_xincheng,
            )
            for case in many
            for photo in (before, after)
        ]
    )
    output = io.BytesIO()
    tracemalloc.start()
    count = ledger.write_ledger(Issue.objects.all(), output)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 1201
    workbook = load_workbook(io.BytesIO(output.getvalue()))
    assert len(workbook.worksheets[0]._images) == 2402
    # 2 402 thumbnails of several kB each are in the file, not all in memory at once.
    assert peak < 60 * 1024 * 1024, peak
    assert Issue.objects.filter(status=Status.CLOSED).count() == 1
