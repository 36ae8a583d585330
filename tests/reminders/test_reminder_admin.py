"""Admin for reminders: channel secrets are write-only; the delivery log is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reminders import services
from reminders.forms import ChannelConfigForm
from reminders.models import ChannelConfig, ChannelKind, Delivery
from tests.factories import UserFactory
from tests.reminders.conftest import NOW, overdue_issue

# Saving resolves the robots' hosts: the fake resolver answers offline.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_dns")]

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=TOKEN-abc123-never-shown"
SECRET = "SEC-signing-secret-never-shown"


@pytest.fixture
def superuser_client(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def dingtalk(world) -> ChannelConfig:
    return ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.DINGTALK,
        webhook_url=WEBHOOK,
        signing_secret=SECRET,
        keyword="城管",
    )


def form_data(config: ChannelConfig, **changes) -> dict:
    data = {
        "organisation": config.organisation_id or "",
        "kind": config.kind,
        "enabled": "on",
        "webhook_url": "",
        "signing_secret": "",
        "keyword": config.keyword,
        "email_addresses": "",
        "quiet_start": "",
        "quiet_end": "",
        "rate_limit_per_minute": "20",
    }
    data.update(changes)
    return data


def test_reminder_channel_admin_never_shows_secrets(superuser_client, dingtalk):
    change = superuser_client.get(
        reverse("admin:reminders_channelconfig_change", args=[dingtalk.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    listing = superuser_client.get(reverse("admin:reminders_channelconfig_changelist"))

    for response in (change, listing):
        assert response.status_code == 200
        body = response.content.decode()
        assert "TOKEN-abc123" not in body
        assert SECRET not in body
    assert "https://oapi.dingtalk.com/…" in listing.content.decode()
    assert "https://oapi.dingtalk.com/…" in change.content.decode()


def test_reminder_channel_form_blank_secret_keeps_the_saved_value(dingtalk):
    form = ChannelConfigForm(data=form_data(dingtalk, keyword="新关键词"), instance=dingtalk)
    assert form.is_valid(), form.errors
    form.save()

    dingtalk.refresh_from_db()
    assert (dingtalk.webhook_url, dingtalk.signing_secret) == (WEBHOOK, SECRET)
    assert dingtalk.keyword == "新关键词"


def test_reminder_channel_form_replaces_or_clears_a_secret(dingtalk):
    replaced = ChannelConfigForm(
        data=form_data(dingtalk, signing_secret="SEC-new", clear_webhook_url=""),
        instance=dingtalk,
    )
    assert replaced.is_valid(), replaced.errors
    replaced.save()
    dingtalk.refresh_from_db()
    assert dingtalk.signing_secret == "SEC-new"

    cleared = ChannelConfigForm(
        data=form_data(dingtalk, clear_signing_secret="on"), instance=dingtalk
    )
    assert cleared.is_valid(), cleared.errors
    cleared.save()
    dingtalk.refresh_from_db()
    assert dingtalk.signing_secret == "" and dingtalk.webhook_url == WEBHOOK


def test_reminder_channel_form_requires_a_webhook_for_a_new_robot(world):
    form = ChannelConfigForm(
        data=form_data(ChannelConfig(organisation=world.org_y, kind=ChannelKind.WECOM))
    )
    assert not form.is_valid()
    assert "webhook_url" in form.errors


def test_reminder_channel_admin_saves_through_the_change_page(superuser_client, dingtalk):
    url = reverse("admin:reminders_channelconfig_change", args=[dingtalk.pk])
    response = superuser_client.post(url, form_data(dingtalk, rate_limit_per_minute="10"))

    assert response.status_code == 302
    dingtalk.refresh_from_db()
    assert dingtalk.rate_limit_per_minute == 10
    assert (dingtalk.webhook_url, dingtalk.signing_secret) == (WEBHOOK, SECRET)


def test_reminder_delivery_log_is_read_only_and_filterable(superuser_client, world, dingtalk):
    issue = overdue_issue(world)
    services.reminders_run(now=NOW)
    Delivery.objects.filter(config=dingtalk).update(
        state=Delivery.State.FAILED, last_error="HTTP 404: no such robot", response_code=404
    )
    changelist = reverse("admin:reminders_delivery_changelist")

    filtered = superuser_client.get(
        changelist,
        {
            "state__exact": "failed",
            "channel__exact": "dingtalk",
            "organisation__id__exact": world.org_x.pk,
            "q": issue.case_number,
        },
    )
    other_state = superuser_client.get(changelist, {"state__exact": "sent"})
    add = superuser_client.get(reverse("admin:reminders_delivery_add"))

    assert filtered.status_code == 200
    assert "no such robot" in filtered.content.decode()
    assert filtered.context["cl"].result_count == 1
    assert other_state.context["cl"].result_count == 0
    assert add.status_code == 403
    delivery = Delivery.objects.get(config=dingtalk)
    detail = superuser_client.get(reverse("admin:reminders_delivery_change", args=[delivery.pk]))
    assert detail.status_code == 200
    assert b'name="state"' not in detail.content  # shown, not editable


def test_reminder_delivery_log_retry_action_requeues_failed_deliveries(
    superuser_client, world, dingtalk
):
    overdue_issue(world)
    services.reminders_run(now=NOW)
    Delivery.objects.filter(config=dingtalk).update(state=Delivery.State.FAILED, attempts=8)
    failed = Delivery.objects.get(config=dingtalk)

    response = superuser_client.post(
        reverse("admin:reminders_delivery_changelist"),
        {"action": "retry_failed", "_selected_action": [failed.pk]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("pending", 0)
