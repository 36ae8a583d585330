"""Staff accounts: a zone admin cannot take over a superuser's account."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from districts.models import Role
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def root():
    return User.objects.create_superuser("root", "root@example.com", "root-password-1")


def test_zone_admin_cannot_disable_a_superuser(client, world, root):
    client.force_login(world.admin_zone)
    response = client.post(reverse("districts:staff_disable", args=[root.pk]))
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_active
    assert root.check_password("root-password-1")


def test_zone_admin_cannot_reenable_a_superuser_with_a_password_of_their_choice(
    client, world, root
):
    User.objects.filter(pk=root.pk).update(is_active=False)
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_enable", args=[root.pk]), {"password": "Chosen-by-admin_zone-42"}
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert not root.is_active
    assert not root.check_password("Chosen-by-admin_zone-42")


def test_zone_admin_cannot_change_a_superusers_role_or_scope(client, world, root):
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_edit", args=[root.pk]),
        {"full_name": "Taken over", "role": Role.INSPECTOR, "districts": [world.district_a.pk]},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.first_name == ""
    assert not hasattr(root, "membership")


def test_superuser_may_disable_another_superuser(client, world, root):
    other = User.objects.create_superuser("root2", "root2@example.com", "root-password-2")
    client.force_login(root)
    response = client.post(reverse("districts:staff_disable", args=[other.pk]))
    assert response.status_code == 302
    other.refresh_from_db()
    assert not other.is_active


def test_zone_admin_still_disables_an_ordinary_account(client, world):
    target = make_staff("someone", Role.INSPECTOR, districts=[world.district_a])
    client.force_login(world.admin_zone)
    client.post(reverse("districts:staff_disable", args=[target.pk]))
    target.refresh_from_db()
    assert not target.is_active
