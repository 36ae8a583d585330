"""Responsibility assignment and staff account services: history kept, every change audited."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from districts import services
from districts.models import AuditEntry, Membership, OwnerKind, Responsibility, Role
from tests.factories import OrganisationFactory

User = get_user_model()
DAY = datetime.date(2026, 3, 2)


@time_machine.travel(datetime.datetime(2026, 2, 1, 2, tzinfo=datetime.UTC))
def test_responsibility_assign_ends_the_previous_assignment_and_keeps_history(world):
    old = Responsibility.objects.get(organisation=world.org_x, district=world.district_a)
    org_z = OrganisationFactory(code="org-z")
    new = services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.TERRITORIAL,
        organisation=org_z,
        district=world.district_a,
        lead_person="王主任",
        lead_phone="13800000000",
        valid_from=DAY,
    )
    old.refresh_from_db()
    assert (old.valid_from, old.valid_to) == (datetime.date(2020, 1, 1), DAY)
    assert old.ended_by == world.admin_zone and old.ended_at is not None
    assert old.organisation == world.org_x
    assert (new.organisation, new.valid_from, new.valid_to) == (org_z, DAY, None)
    assert new.created_by == world.admin_zone
    assert list(Responsibility.objects.current(DAY).filter(district=world.district_a)) == [new]
    assert list(
        Responsibility.objects.current(DAY - datetime.timedelta(days=1)).filter(
            district=world.district_a
        )
    ) == [old]
    audit = AuditEntry.objects.get(action="responsibility_assign")
    assert audit.actor == world.admin_zone
    assert audit.object_id == str(new.pk)
    assert audit.data["ended"] == [old.pk]


def test_responsibility_assign_refuses_to_rewrite_a_later_assignment(world):
    with pytest.raises(ValidationError):
        services.responsibility_assign(
            actor=world.admin_zone,
            kind=OwnerKind.TERRITORIAL,
            organisation=world.org_y,
            district=world.district_a,
            valid_from=datetime.date(2020, 1, 1),
        )
    assert Responsibility.objects.filter(district=world.district_a).count() == 1
    assert not AuditEntry.objects.exists()


def test_responsibility_assign_checks_the_shape_of_the_slot(world):
    with pytest.raises(ValidationError):
        services.responsibility_assign(
            actor=world.admin_zone,
            kind=OwnerKind.PAIRED,
            organisation=world.org_y,
            community=world.community_a,
            point=world.point_a,
            valid_from=DAY,
        )
    with pytest.raises(ValidationError):
        services.responsibility_assign(
            actor=world.admin_zone,
            kind=OwnerKind.SECTOR,
            organisation=world.org_y,
            valid_from=DAY,
        )


def test_responsibility_assign_paired_slots_are_independent_per_point(world):
    first = services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.PAIRED,
        organisation=world.org_x,
        community=world.community_a,
        valid_from=DAY,
    )
    services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.PAIRED,
        organisation=world.org_y,
        point=world.point_a,
        valid_from=DAY,
    )
    first.refresh_from_db()
    assert first.valid_to is None


def test_responsibility_end_sets_the_end_and_records_who(world):
    row = Responsibility.objects.get(organisation=world.org_y)
    services.responsibility_end(actor=world.admin_zone, responsibility=row, valid_to=DAY)
    row.refresh_from_db()
    assert (row.valid_to, row.ended_by) == (DAY, world.admin_zone)
    assert AuditEntry.objects.filter(action="responsibility_end", object_id=str(row.pk)).exists()
    with pytest.raises(ValidationError):
        services.responsibility_end(
            actor=world.admin_zone, responsibility=row, valid_to=datetime.date(2019, 1, 1)
        )


def test_staff_assignment_create_makes_an_account_with_scope_and_an_assignment_audit(world):
    user = services.staff_create(
        actor=world.admin_zone,
        username="zoe",
        full_name="赵丽",
        role=Role.INSPECTOR,
        districts=[world.district_a, world.district_b],
        password="a-long-unusual-passphrase",
    )
    assert user.check_password("a-long-unusual-passphrase")
    assert set(user.membership.districts.all()) == {world.district_a, world.district_b}
    assert AuditEntry.objects.get(action="staff_create").object_id == str(user.pk)


def test_staff_assignment_create_refuses_a_handler_without_organisation_and_weak_passwords(world):
    with pytest.raises(ValidationError) as error:
        services.staff_create(
            actor=world.admin_zone,
            username="h2",
            full_name="",
            role=Role.HANDLER,
            password="a-long-unusual-passphrase",
        )
    assert "organisation" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.staff_create(
            actor=world.admin_zone,
            username="h3",
            full_name="",
            role=Role.LEADER,
            all_districts=True,
            password="123",
        )
    assert "password" in error.value.message_dict
    assert not User.objects.filter(username__in=["h2", "h3"]).exists()


def test_staff_assignment_update_changes_scope_and_audits_the_difference(world):
    services.staff_update(
        actor=world.admin_zone,
        user=world.inspector_xincheng,
        full_name="Alice",
        role=Role.SUPERVISOR,
        districts=[world.district_b],
    )
    membership = Membership.objects.get(user=world.inspector_xincheng)
    assert membership.role == Role.SUPERVISOR
    assert list(membership.districts.all()) == [world.district_b]
    audit = AuditEntry.objects.get(action="staff_update")
    assert audit.data["changes"]["role"] == ["inspector", "supervisor"]
    assert audit.data["changes"]["districts"] == [["district-a"], ["district-b"]]


def test_staff_assignment_disable_ends_sessions_and_keeps_history(world, client):
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("login")).wsgi_request.user == world.inspector_xincheng
    responsibility = Responsibility.objects.create(
        kind=OwnerKind.PAIRED,
        organisation=world.org_x,
        community=world.community_a,
        valid_from=DAY,
        created_by=world.inspector_xincheng,
    )
    services.staff_disable(actor=world.admin_zone, user=world.inspector_xincheng)
    world.inspector_xincheng.refresh_from_db()
    assert not world.inspector_xincheng.is_active
    assert not world.inspector_xincheng.has_usable_password()
    # The browser's session no longer authenticates.
    assert client.get(reverse("login")).wsgi_request.user.is_anonymous
    # The account and what it did are still there.
    responsibility.refresh_from_db()
    assert responsibility.created_by == world.inspector_xincheng
    assert Membership.objects.filter(user=world.inspector_xincheng, role=Role.INSPECTOR).exists()
    assert AuditEntry.objects.filter(
        action="staff_disable", object_id=str(world.inspector_xincheng.pk)
    ).exists()


def test_staff_assignment_enable_needs_a_new_password_and_old_sessions_stay_ended(world, client):
    client.force_login(world.inspector_xincheng)
    services.staff_disable(actor=world.admin_zone, user=world.inspector_xincheng)
    services.staff_enable(
        actor=world.admin_zone, user=world.inspector_xincheng, password="another-long-phrase-9"
    )
    world.inspector_xincheng.refresh_from_db()
    assert world.inspector_xincheng.is_active
    assert client.get(reverse("login")).wsgi_request.user.is_anonymous
    assert client.login(username="inspector_xincheng", password="another-long-phrase-9")
    assert AuditEntry.objects.filter(action="staff_enable").count() == 1


def test_staff_assignment_disable_refuses_your_own_account(world):
    with pytest.raises(ValidationError):
        services.staff_disable(actor=world.admin_zone, user=world.admin_zone)
    world.admin_zone.refresh_from_db()
    assert world.admin_zone.is_active


@time_machine.travel(datetime.datetime(2026, 2, 1, 2, tzinfo=datetime.UTC))
def test_responsibility_withdraw_of_a_scheduled_assignment_restores_the_previous_one(world):
    today = datetime.date(2026, 3, 1)
    old = Responsibility.objects.get(organisation=world.org_x, district=world.district_a)
    scheduled = services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.TERRITORIAL,
        organisation=world.org_y,
        district=world.district_a,
        valid_from=datetime.date(2026, 6, 1),
    )
    services.responsibility_withdraw(actor=world.admin_zone, responsibility=scheduled, today=today)
    assert not Responsibility.objects.filter(pk=scheduled.pk).exists()
    old.refresh_from_db()
    assert (old.valid_to, old.ended_by, old.ended_at) == (None, None, None)
    audit = AuditEntry.objects.get(action="responsibility_withdraw")
    assert audit.data["organisation"] == "org-y"
    assert audit.data["reopened"] == old.pk


def test_responsibility_withdraw_refuses_an_assignment_already_in_force(world):
    row = Responsibility.objects.get(organisation=world.org_x)
    with pytest.raises(ValidationError):
        services.responsibility_withdraw(actor=world.admin_zone, responsibility=row)
    assert Responsibility.objects.filter(pk=row.pk).exists()


def test_fieldwalk_backdating_an_assignment_over_a_current_holder_needs_a_correction(world):
    old = Responsibility.objects.get(organisation=world.org_x, district=world.district_a)
    last_month = timezone.localdate() - datetime.timedelta(days=30)
    with pytest.raises(ValidationError) as refused:
        services.responsibility_assign(
            actor=world.admin_zone,
            kind=OwnerKind.TERRITORIAL,
            organisation=world.org_y,
            district=world.district_a,
            valid_from=last_month,
        )
    assert refused.value.code == "backdated"
    old.refresh_from_db()
    assert old.valid_to is None
    corrected = services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.TERRITORIAL,
        organisation=world.org_y,
        district=world.district_a,
        valid_from=last_month,
        correction_reason="街道办调整分工，文件下发于上月",
    )
    old.refresh_from_db()
    assert old.valid_to == last_month
    assert corrected.correction_reason == "街道办调整分工，文件下发于上月"
    audit = AuditEntry.objects.filter(action="responsibility_assign").latest("id")
    assert audit.data["correction_reason"] == "街道办调整分工，文件下发于上月"


def test_fieldwalk_a_past_start_on_an_empty_slot_rewrites_nothing_and_is_allowed(world):
    created = services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.TERRITORIAL,
        organisation=world.org_y,
        community=world.community_a,
        valid_from=timezone.localdate() - datetime.timedelta(days=30),
    )
    assert created.correction_reason == ""
