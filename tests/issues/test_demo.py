"""`manage.py load_demo` builds the seed's zone, and running it twice duplicates nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from districts import coverage
from districts.models import (
    AuditEntry,
    Category,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    Responsibility,
    Role,
)
from districts.routing import route
from issues.models import (
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    Status,
    TimerLight,
)

User = get_user_model()
COUNTED = (
    District,
    Community,
    InspectionPoint,
    Organisation,
    Responsibility,
    User,
    Membership,
    Issue,
    IssueEvent,
    Photo,
    ExtensionRequest,
    Escalation,
    Notification,
    AuditEntry,
)


def load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", "--force", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in COUNTED}


@pytest.mark.slow
def test_demo_runs_twice_without_duplicating_anything(db):
    load_demo()
    first = counts()

    output = load_demo()

    assert counts() == first
    assert first["issues.Issue"] >= 30
    assert "http://127.0.0.1:8000" in output
    assert "demo12345" in output


@pytest.mark.slow
def test_demo_cases_cover_every_state_and_timer_light(db):
    load_demo()
    issues = list(Issue.objects.select_related("category"))
    now = timezone.now()

    statuses = {issue.status for issue in issues}
    assert set(Status.values) <= statuses
    lights = {issue.timer_light(now) for issue in issues}
    assert {TimerLight.GREEN, TimerLight.YELLOW, TimerLight.RED} <= lights
    assert any(issue.rework_count for issue in issues if issue.status == Status.IN_PROGRESS)
    assert any(issue.fixed_on_spot for issue in issues)
    assert {e.level for e in Escalation.objects.all()} == {1, 2, 3}
    assert ExtensionRequest.objects.filter(status=ExtensionRequest.Status.PENDING).exists()
    assert ExtensionRequest.objects.filter(status=ExtensionRequest.Status.APPROVED).exists()
    assert Issue.objects.filter(duplicate_of__isnull=False).exists()


@pytest.mark.slow
def test_demo_cases_were_made_through_the_services_with_photos_and_events(db):
    load_demo()

    for issue in Issue.objects.all():
        events = list(issue.events.order_by("created_at", "id"))
        assert events[0].action == "report"
        assert events[0].created_at == issue.reported_at
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)
        assert events[-1].to_status == issue.status
        assert issue.photos.filter(kind=Photo.Kind.BEFORE).exists()
        assert issue.reported_at <= timezone.now()
    # Case numbers follow the order in which problems were reported.
    ordered = list(Issue.objects.order_by("case_number").values_list("reported_at", flat=True))
    assert ordered == sorted(ordered)
    photo = Photo.objects.filter(kind=Photo.Kind.AFTER).first()
    assert photo.taken_at is not None and photo.gps_latitude is not None


def test_demo_builds_the_places_of_the_seed_article(db):
    load_demo("--no-issues")

    assert set(District.objects.values_list("name", flat=True)) >= {"新城街道", "滨河街道"}
    biguiyuan = Community.objects.get(name="碧桂园社区")
    assert (biguiyuan.district.name, biguiyuan.households, biguiyuan.residents) == (
        "滨河街道",
        4904,
        12600,
    )
    assert Community.objects.get(name="水域蓝湾社区").district.name == "新城街道"
    per_district = Community.objects.values("district").annotate(n=Count("pk"))
    assert all(3 <= row["n"] <= 4 for row in per_district)
    markets = InspectionPoint.objects.filter(point_type__code="NIGHT_MARKET")
    assert markets.count() == 9
    names = set(InspectionPoint.objects.values_list("name", flat=True))
    for name in ("哲理木车站家属楼", "通北库家属区", "农业局家属楼", "实验初中教师楼"):
        assert name in names
    for market in ("水域蓝湾", "河畔花园", "那达慕风情园", "佳家花园"):
        assert any(n.startswith(market) for n in markets.values_list("name", flat=True))
    for point in InspectionPoint.objects.all():
        assert 43.62 <= float(point.latitude) <= 43.66, point.name
        assert 122.22 <= float(point.longitude) <= 122.30, point.name


def test_demo_organisations_and_all_three_kinds_of_responsibility(db):
    load_demo("--no-issues")

    groups = Organisation.objects.filter(kind=Organisation.Kind.SUPERVISION_GROUP)
    assert groups.count() == 5
    paired = Responsibility.objects.get(
        kind=OwnerKind.PAIRED, organisation__name="开发区工业和信息化局"
    )
    assert (paired.community.name, paired.lead_person) == ("水域蓝湾社区", "梁万明")
    assert set(Responsibility.objects.values_list("kind", flat=True)) == set(OwnerKind.values)
    decision = route(
        category=Category.objects.get(code="CAR_ILLEGAL_PARK"),
        community=Community.objects.get(code="biguiyuan"),
    )
    assert decision.organisation.name == "开发区交警大队"


def test_demo_leaves_gaps_for_the_coverage_page_to_find(db):
    load_demo("--no-issues")

    report = coverage.coverage_report()

    assert [gap.category.code for gap in report.categories] == ["MANHOLE"]
    assert [o.code for o in report.organisations] == ["paishui"]


def test_demo_has_an_account_for_every_role_with_the_demo_password(db):
    output = load_demo("--no-issues")

    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == set(Role.values)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    for username in ("xunchayuan", "dudao", "lingdao", "liangwanming", "jbr_jiaojing"):
        assert User.objects.get(username=username).check_password("demo12345")
        assert username in output
    inspector = User.objects.get(username="xunchayuan").membership
    assert [d.name for d in inspector.districts.all()] == ["新城街道"]
    street_handlers = Membership.objects.filter(
        role=Role.HANDLER, organisation__kind=Organisation.Kind.STREET_OFFICE
    )
    assert street_handlers.count() == 2


@pytest.mark.django_db
def test_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="known password"):
        call_command("load_demo", "--no-issues", stdout=io.StringIO())
    assert not User.objects.filter(username="admin").exists()
