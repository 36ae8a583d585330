"""A zone admin (role admin, not superuser) can keep reference data in the Django admin."""

import pytest
from django.urls import reverse

from districts.models import Role
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def test_zone_admin_without_superuser_can_open_and_edit_reference_data(world, client):
    zone_admin = make_staff("zoneadmin", Role.ADMIN, all_districts=True)
    zone_admin.is_staff = True
    zone_admin.save(update_fields=["is_staff"])
    client.force_login(zone_admin)

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:districts_category_changelist")).status_code == 200
    assert client.get(reverse("admin:districts_pointtype_add")).status_code == 200
    assert zone_admin.has_perm("issues.change_calendarday")


def test_zone_admin_gets_no_rights_over_user_accounts_in_the_django_admin(world, client):
    zone_admin = make_staff("zoneadmin", Role.ADMIN, all_districts=True)
    zone_admin.is_staff = True
    zone_admin.save(update_fields=["is_staff"])
    client.force_login(zone_admin)

    assert not zone_admin.has_perm("auth.change_user")
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_supervisor_with_staff_flag_gets_no_admin_permissions(world):
    world.supervisor_xincheng.is_staff = True
    world.supervisor_xincheng.save(update_fields=["is_staff"])
    assert not world.supervisor_xincheng.has_perm("districts.change_category")
    assert not world.supervisor_xincheng.has_module_perms("districts")
