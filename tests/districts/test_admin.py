"""The Django admin loads for the zone office, and keeps service-owned records read-only."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from districts.models import AuditEntry, Category, OwnerKind, Responsibility
from issues import services
from issues.calendar import is_working_day
from issues.models import CalendarDay, Issue, IssueEvent
from reminders.models import ChannelConfig, ChannelKind
from reminders.services import reminders_run
from stats.services import ranking_freeze
from tests.factories import ResponsibilityFactory, UserFactory
from tests.issues.lifecycle_support import photos
from tests.rounds.support import round_with_a_failed_mark

User = get_user_model()


@pytest.fixture
def superuser(db):
    user = UserFactory(username="root-admin", is_staff=True, is_superuser=True)
    return user


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def populated(world):
    """One row of every model the admin shows: a case with photos, events and side records."""
    issue = services.issue_create(
        reporter=world.inspector_xincheng,
        category=world.category,
        description="垃圾未清运",
        point=world.point_a,
        latitude="43.650100",
        longitude="122.250200",
        photos=photos(1),
    )
    issue = services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
    )
    issue = services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
    services.extension_request(
        issue=issue,
        actor=world.handler_xincheng,
        reason="需要外购设备",
        requested_deadline=timezone.now() + datetime.timedelta(days=3),
    )
    services.issue_escalate(
        issue=issue, actor=world.supervisor_xincheng, level=1, note="请尽快处置"
    )
    AuditEntry.objects.create(action="test", object_type="zone", summary="审计样例")
    Group.objects.create(name="双城办")
    CalendarDay.objects.get_or_create(
        date=datetime.date(2030, 10, 1), defaults={"is_working_day": False, "name": "国庆节"}
    )
    # The reminder job on a working day a week later: a ledger row, deliveries, a channel.
    ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.EMAIL, email_addresses="duty@example.cn"
    )
    later = issue.deadline + datetime.timedelta(days=7)
    while not is_working_day(timezone.localdate(later)):
        later += datetime.timedelta(days=1)
    reminders_run(now=later)
    # The 红黑榜 settings and one frozen week (stats app).
    week = timezone.localdate() - datetime.timedelta(days=timezone.localdate().weekday() + 7)
    ranking_freeze(week_start=week)
    # A round with a visit and one mark (rounds app).
    round_with_a_failed_mark(world)
    return world


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _ids(models):
    return [model._meta.label for model, _ in models]


@pytest.mark.parametrize(("model", "model_admin"), _registered(), ids=_ids(_registered()))
def test_every_admin_changelist_loads_for_a_superuser(admin_client, populated, model, model_admin):
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = admin_client.get(url)
    assert response.status_code == 200, url
    # The search box and every filter must work too, not only the bare list.
    if model_admin.search_fields:
        assert admin_client.get(url, {"q": "测试"}).status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), _registered(), ids=_ids(_registered()))
def test_every_admin_add_page_loads_or_is_refused_for_a_superuser(
    admin_client, populated, model, model_admin, rf, superuser
):
    opts = model._meta
    request = rf.get("/")
    request.user = superuser
    response = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    expected = 200 if model_admin.has_add_permission(request) else 403
    assert response.status_code == expected


@pytest.mark.parametrize(("model", "model_admin"), _registered(), ids=_ids(_registered()))
def test_every_admin_change_page_loads_for_one_object(admin_client, populated, model, model_admin):
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the populated fixture must make a {model._meta.label} row"
    opts = model._meta
    response = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert response.status_code == 200


def test_the_admin_index_lists_the_reference_data_and_the_calendar(admin_client, populated):
    response = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    for name in ("districts_category", "districts_responsibility", "issues_calendarday"):
        app, model = name.split("_")
        assert reverse(f"admin:{app}_{model}_changelist").encode() in response.content


def test_issue_events_cannot_be_changed_or_deleted_in_the_admin(admin_client, populated):
    event = IssueEvent.objects.order_by("pk").first()
    change_url = reverse("admin:issues_issueevent_change", args=[event.pk])
    delete_url = reverse("admin:issues_issueevent_delete", args=[event.pk])
    note = event.note

    assert admin_client.post(change_url, {"note": "改写"}).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.note == note


def test_issues_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, populated):
    issue = Issue.objects.get()
    status = issue.status

    assert admin_client.get(reverse("admin:issues_issue_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:issues_issue_change", args=[issue.pk]), {"status": "closed"}
    )
    assert response.status_code == 403
    delete_url = reverse("admin:issues_issue_delete", args=[issue.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    issue.refresh_from_db()
    assert issue.status == status


def test_the_audit_log_is_read_only_in_the_admin(admin_client, populated):
    entry = AuditEntry.objects.get(action="test")
    url = reverse("admin:districts_auditentry_change", args=[entry.pk])

    assert admin_client.post(url, {"summary": "改写"}).status_code == 403
    entry.refresh_from_db()
    assert entry.summary == "审计样例"


def test_calendar_days_can_be_added_in_the_admin(admin_client, db):
    response = admin_client.post(
        reverse("admin:issues_calendarday_add"),
        {"date": "2031-01-01", "is_working_day": "", "name": "元旦"},
    )
    assert response.status_code == 302
    day = CalendarDay.objects.get(date=datetime.date(2031, 1, 1))
    assert day.is_working_day is False


def test_a_category_changed_in_the_admin_leaves_an_audit_entry(admin_client, db):
    category = Category.objects.get(code="SMALL_AD")
    url = reverse("admin:districts_category_change", args=[category.pk])
    form = {
        "code": category.code,
        "name": "小广告乱贴乱画(含喷涂)",
        "name_en": category.name_en,
        "big_class": category.big_class,
        "severity": category.severity,
        "is_active": "on",
        "limit_value": 6,
        "limit_unit": category.limit_unit,
        "owner_kind": category.owner_kind,
        "sector_hint": category.sector_hint,
        "closing_condition": category.closing_condition,
        "after_photo_required": "on",
        "on_spot_fix_allowed": "on",
        "quick_phrases": category.quick_phrases,
        "sort_order": category.sort_order,
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302
    category.refresh_from_db()
    assert category.limit_value == 6
    entry = AuditEntry.objects.get(action="admin_change", object_id=str(category.pk))
    assert entry.object_type == "category"


def test_a_responsibility_keeps_its_scope_and_records_who_ended_it(admin_client, superuser, world):
    row = ResponsibilityFactory(
        kind=OwnerKind.TERRITORIAL, organisation=world.org_y, community=world.community_a
    )
    url = reverse("admin:districts_responsibility_change", args=[row.pk])
    response = admin_client.post(
        url,
        {
            # An attempt to move the assignment to another organisation must be ignored.
            "organisation": world.org_x.pk,
            "lead_person": "王主任",
            "lead_phone": "",
            "valid_to": "2030-01-01",
            "note": "社区调整",
        },
    )

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.organisation == world.org_y
    assert row.valid_to == datetime.date(2030, 1, 1)
    assert row.ended_by == superuser
    assert row.ended_at is not None


def test_responsibilities_cannot_be_deleted_in_the_admin(admin_client, world):
    row = Responsibility.objects.filter(organisation=world.org_x).first()
    url = reverse("admin:districts_responsibility_delete", args=[row.pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Responsibility.objects.filter(pk=row.pk).exists()


def test_a_staff_account_with_its_membership_is_created_on_one_admin_page(admin_client, world):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "xinren",
            "password1": "a-long-Passphrase-2026",
            "password2": "a-long-Passphrase-2026",
            "usable_password": "true",
            "membership-TOTAL_FORMS": "1",
            "membership-INITIAL_FORMS": "0",
            "membership-MIN_NUM_FORMS": "0",
            "membership-MAX_NUM_FORMS": "1",
            "membership-0-role": "inspector",
            "membership-0-districts": [world.district_a.pk],
            "membership-0-phone": "13900000000",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="xinren")
    assert user.membership.role == "inspector"
    assert list(user.membership.districts.all()) == [world.district_a]


@time_machine.travel(datetime.datetime(2025, 12, 1, 2, tzinfo=datetime.UTC))
def test_adding_a_responsibility_in_the_admin_ends_the_previous_holder(
    admin_client, superuser, world
):
    previous = Responsibility.objects.get(organisation=world.org_x, district=world.district_a)

    response = admin_client.post(
        reverse("admin:districts_responsibility_add"),
        {
            "kind": OwnerKind.TERRITORIAL,
            "organisation": world.org_y.pk,
            "district": world.district_a.pk,
            "valid_from": "2026-01-01",
            "lead_person": "陈主任",
        },
    )

    assert response.status_code == 302
    previous.refresh_from_db()
    assert previous.valid_to == datetime.date(2026, 1, 1)
    assert previous.ended_by == superuser
    new = Responsibility.objects.get(organisation=world.org_y, district=world.district_a)
    assert (new.created_by, new.lead_person) == (superuser, "陈主任")
    assert AuditEntry.objects.filter(action="responsibility_assign", object_id=str(new.pk)).exists()


def test_a_responsibility_starting_before_the_current_holder_is_refused_in_the_admin(
    admin_client, world
):
    before = Responsibility.objects.count()

    response = admin_client.post(
        reverse("admin:districts_responsibility_add"),
        {
            "kind": OwnerKind.TERRITORIAL,
            "organisation": world.org_y.pk,
            "district": world.district_a.pk,
            "valid_from": "2019-06-01",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Responsibility.objects.count() == before


def test_a_responsibility_of_the_wrong_shape_is_refused_in_the_admin(admin_client, world):
    response = admin_client.post(
        reverse("admin:districts_responsibility_add"),
        {
            "kind": OwnerKind.SECTOR,
            "organisation": world.org_y.pk,
            "community": world.community_a.pk,
            "valid_from": "2026-01-01",
        },
    )

    assert response.status_code == 200
    assert not Responsibility.objects.filter(kind=OwnerKind.SECTOR).exists()


def test_an_end_date_cannot_be_removed_in_the_admin(admin_client, world):
    row = ResponsibilityFactory(
        kind=OwnerKind.PAIRED,
        organisation=world.org_y,
        community=world.community_b,
        valid_to=datetime.date(2030, 1, 1),
    )

    response = admin_client.post(
        reverse("admin:districts_responsibility_change", args=[row.pk]),
        {"lead_person": "", "lead_phone": "", "valid_to": "", "note": ""},
    )

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.valid_to == datetime.date(2030, 1, 1)


def test_an_assignment_added_under_its_organisation_goes_through_the_service(
    admin_client, superuser, world
):
    organisation = world.org_x
    existing = list(organisation.responsibilities.all())
    prefix = "responsibilities"
    form = {
        "code": organisation.code,
        "name": organisation.name,
        "name_en": organisation.name_en,
        "kind": organisation.kind,
        "district": organisation.district_id,
        "is_active": "on",
        "contact_name": "",
        "contact_phone": "",
        f"{prefix}-TOTAL_FORMS": str(len(existing) + 1),
        f"{prefix}-INITIAL_FORMS": str(len(existing)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(existing):
        form[f"{prefix}-{index}-id"] = row.pk
        form[f"{prefix}-{index}-organisation"] = organisation.pk
    new = f"{prefix}-{len(existing)}"
    form.update(
        {
            f"{new}-organisation": organisation.pk,
            f"{new}-kind": OwnerKind.PAIRED,
            f"{new}-point": world.point_b.pk,
            f"{new}-lead_person": "梁万明",
            f"{new}-valid_from": "2026-03-01",
        }
    )

    response = admin_client.post(
        reverse("admin:districts_organisation_change", args=[organisation.pk]), form
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    paired = Responsibility.objects.get(kind=OwnerKind.PAIRED, point=world.point_b)
    assert (paired.organisation, paired.created_by) == (organisation, superuser)
    assert AuditEntry.objects.filter(action="responsibility_assign").count() == 1
