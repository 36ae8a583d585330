"""The interface language: Chinese by default, English chosen per user and remembered."""

import pytest
from django.urls import reverse

from districts.models import Membership

pytestmark = pytest.mark.django_db


def test_language_choice_is_saved_on_the_user_and_follows_them_to_a_new_browser(world, client):
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert Membership.objects.get(user=world.inspector_xincheng).language == "en"

    client.logout()
    client.cookies.clear()
    client.force_login(world.inspector_xincheng)
    page = client.get(reverse("home"))
    assert page["Content-Language"] == "en"
    assert 'lang="en"' in page.content.decode()


def test_language_defaults_to_chinese_for_a_user_without_a_choice(world, client):
    client.force_login(world.supervisor_xincheng)
    page = client.get(reverse("home"))
    assert 'lang="zh-hans"' in page.content.decode()


def test_language_switch_refuses_get(world, client):
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("set_language")).status_code == 405
    assert Membership.objects.get(user=world.inspector_xincheng).language == ""
