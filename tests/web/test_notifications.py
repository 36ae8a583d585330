"""The bell's page: one's own notifications, marking them read, links only to visible issues."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from issues.models import Notification, is_site_path
from tests.factories import IssueFactory

LIST_URL = "/notifications/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def notify(user, issue=None, *, title: str = "案件已派遣", read: bool = False) -> Notification:
    return Notification.objects.create(
        user=user,
        issue=issue,
        kind="event",
        title=title,
        read_at=timezone.now() if read else None,
    )


@pytest.fixture
def issue_a(world):
    return IssueFactory(
        community=world.community_a, category=world.category, reporter=world.inspector_xincheng
    )


@pytest.fixture
def issue_b(world):
    return IssueFactory(
        community=world.community_b, category=world.category, reporter=world.inspector_binhe
    )


# ---------- access ----------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", LIST_URL),
        ("post", "/notifications/1/read/"),
        ("post", "/notifications/read-all/"),
    ],
)
def test_anonymous_visitor_is_sent_to_login(client, db, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", ["/notifications/1/read/", "/notifications/read-all/"])
def test_marking_read_refuses_get(client, world, url):
    client.force_login(world.inspector_xincheng)
    assert client.get(url).status_code == 405


def test_the_list_refuses_post(client, world):
    client.force_login(world.inspector_xincheng)
    assert client.post(LIST_URL).status_code == 405


def test_someone_elses_notification_is_not_found_and_stays_unread(client, world, issue_a):
    bobs = notify(world.supervisor_xincheng, issue_a)
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("issues:notification_read", args=[bobs.pk]))
    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.read_at is None


# ---------- the list ----------


def test_the_list_shows_only_ones_own_notifications_newest_first(client, world, issue_a):
    notify(world.inspector_xincheng, issue_a, title="first for inspector_xincheng")
    notify(world.inspector_xincheng, issue_a, title="second for inspector_xincheng")
    notify(world.supervisor_xincheng, issue_a, title="for supervisor_xincheng")
    client.force_login(world.inspector_xincheng)
    response = client.get(LIST_URL, **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "for supervisor_xincheng" not in html
    assert html.index("second for inspector_xincheng") < html.index("first for inspector_xincheng")


def test_a_notification_about_an_issue_out_of_scope_offers_no_link(client, world, issue_a, issue_b):
    # The inspector may once have been told about a case in district B; she cannot see it now.
    visible = notify(world.inspector_xincheng, issue_a, title="visible one")
    hidden = notify(world.inspector_xincheng, issue_b, title="hidden one")
    client.force_login(world.inspector_xincheng)
    response = client.get(LIST_URL, **EN)
    rows = {row.pk: row for row in response.context["notifications"]}
    assert rows[visible.pk].issue_visible is True
    assert rows[hidden.pk].issue_visible is False
    # Marking it read lands on the list, never on the issue.
    response = client.post(reverse("issues:notification_read", args=[hidden.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("issues:notification_list")
    hidden.refresh_from_db()
    assert hidden.read_at is not None


def test_the_list_pages_without_counting(client, world, issue_a, django_assert_num_queries):
    for index in range(35):
        notify(world.inspector_xincheng, issue_a, title=f"n{index}")
    client.force_login(world.inspector_xincheng)
    # Session, user, the page of notifications with their cases, the membership's districts
    # for judging those cases' scope, the bell's unread count.
    with django_assert_num_queries(5):
        response = client.get(LIST_URL, **EN)
    assert len(response.context["notifications"]) == 30
    next_url = response.context["next_url"]
    assert next_url
    response = client.get(LIST_URL + next_url, **EN)
    assert len(response.context["notifications"]) == 5
    assert response.context["next_url"] is None


def test_the_list_runs_the_same_queries_for_few_and_many(
    client, world, issue_a, django_assert_num_queries
):
    notify(world.inspector_xincheng, issue_a)
    client.force_login(world.inspector_xincheng)
    with django_assert_num_queries(5):
        client.get(LIST_URL)
    for index in range(29):
        notify(world.inspector_xincheng, issue_a, title=f"n{index}")
    with django_assert_num_queries(5):
        client.get(LIST_URL)


# ---------- marking read ----------


def test_opening_a_notification_marks_it_read_and_goes_to_the_issue(client, world, issue_a):
    notification = notify(world.inspector_xincheng, issue_a)
    other = notify(world.inspector_xincheng, issue_a)
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("issues:notification_read", args=[notification.pk]))
    assert response.status_code == 302
    assert response["Location"] == issue_a.get_absolute_url()
    notification.refresh_from_db()
    other.refresh_from_db()
    assert notification.read_at is not None
    assert other.read_at is None


def test_reading_twice_keeps_the_first_read_time(client, world, issue_a):
    notification = notify(world.inspector_xincheng, issue_a)
    client.force_login(world.inspector_xincheng)
    url = reverse("issues:notification_read", args=[notification.pk])
    client.post(url)
    notification.refresh_from_db()
    first = notification.read_at
    client.post(url)
    notification.refresh_from_db()
    assert notification.read_at == first


def test_mark_all_read_touches_only_ones_own_unread(client, world, issue_a):
    mine = [notify(world.inspector_xincheng, issue_a) for _ in range(3)]
    earlier = notify(world.inspector_xincheng, issue_a, read=True)
    earlier_time = earlier.read_at
    bobs = notify(world.supervisor_xincheng, issue_a)
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("issues:notification_read_all"))
    assert response.status_code == 302
    assert response["Location"] == reverse("issues:notification_list")
    assert all(Notification.objects.get(pk=row.pk).read_at is not None for row in mine)
    earlier.refresh_from_db()
    assert earlier.read_at == earlier_time
    bobs.refresh_from_db()
    assert bobs.read_at is None
    html = client.get("/", **EN).content.decode()
    assert 'class="bell-count"' not in html


def test_a_notification_without_an_issue_can_be_marked_read(client, world):
    notification = notify(world.inspector_xincheng, None, title="系统维护通知")
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("issues:notification_read", args=[notification.pk]))
    assert response["Location"] == reverse("issues:notification_list")
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_security_an_old_notification_tells_nothing_of_a_case_out_of_scope(
    client, world, issue_a, issue_b
):
    notify(world.inspector_xincheng, issue_a, title="visible 2026-000001 垃圾满溢")
    notify(world.inspector_xincheng, issue_b, title="hidden 2026-000002 工地扬尘 住建局", read=True)
    client.force_login(world.inspector_xincheng)
    page = client.get(LIST_URL, **EN).content.decode()
    assert "visible 2026-000001" in page
    assert "2026-000002" not in page
    assert "住建局" not in page
    assert "a case you can no longer see" in page


# ---------- links to a page (reminder summaries) ----------

LIST_PATH = "/issues/?overdue=true&escalation_level=2&escalation_level=3&sort=deadline"


def test_a_notification_with_a_link_opens_its_page_and_is_marked_read(client, world):
    notification = Notification.objects.create(
        user=world.supervisor_xincheng, kind="reminder_summary", title="汇总", link=LIST_PATH
    )
    client.force_login(world.supervisor_xincheng)
    page = client.get(LIST_URL, **EN).content.decode()
    assert "Open the list" in page and "Open the issue" not in page
    response = client.post(reverse("issues:notification_read", args=[notification.pk]))
    assert response.status_code == 302 and response["Location"] == LIST_PATH
    notification.refresh_from_db()
    assert notification.read_at is not None


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/issues/",
        "//evil.example/issues/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "issues/",
        "/issues/\n",
    ],
)
def test_security_a_notification_link_off_the_site_is_refused(link):
    assert not is_site_path(link)
    with pytest.raises(ValidationError):
        Notification(link=link).clean_fields(exclude=["user", "kind", "title"])


@pytest.mark.parametrize("link", ["/issues/", LIST_PATH, "/issues/verify/", "/issues/?q=井盖"])
def test_a_notification_link_on_the_site_is_accepted(link):
    assert is_site_path(link)
    Notification(link=link).clean_fields(exclude=["user", "kind", "title"])


@pytest.mark.parametrize("link", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_security_the_database_refuses_a_link_off_the_site(world, link):
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(user=world.inspector_xincheng, kind="x", title="x", link=link)


def test_security_a_stored_link_off_the_site_is_never_followed(client, world):
    notification = Notification.objects.create(
        user=world.inspector_xincheng, kind="reminder_summary", title="汇总", link="/issues/"
    )
    # Written past the validator and the constraint's reach (a tab a browser would drop).
    Notification.objects.filter(pk=notification.pk).update(link="/\t/evil.example/")
    client.force_login(world.inspector_xincheng)
    response = client.post(reverse("issues:notification_read", args=[notification.pk]))
    assert response["Location"] == reverse("issues:notification_list")
