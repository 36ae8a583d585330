"""Every page speaks one language: no raw codes, and no string of the other language's interface."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    PointType,
)
from districts.services import staff_create
from issues import services
from tests.factories import issue_in
from tests.issues.lifecycle_support import pending_extension
from tests.test_i18n import read_po

TAGS = re.compile(r"<(script|style|template)\b.*?</\1>|<[^>]+>", re.S | re.I)
# A raw code: snake_case words (status, action, role and kind values all look like this).
RAW_CODE = re.compile(r"(?<![\w/.-])[a-z]+(?:_[a-z]+)+(?![\w/.-])")


def visible_text(page: str) -> str:
    return html.unescape(TAGS.sub(" ", page))


@pytest.fixture(scope="module")
def catalogue() -> tuple[list[str], list[str]]:
    """(English interface strings of two words or more, Chinese ones of four characters or more)."""
    entries = [
        entry
        for entry in read_po(Path(settings.BASE_DIR) / "locale/zh_Hans/LC_MESSAGES/django.po")
        if entry.msgid and entry.msgstrs and entry.msgstrs[0]
    ]
    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]|\{[^}]*\}")
    english = [
        part.strip()
        for entry in entries
        for part in placeholder.split(entry.msgid)
        if len(part.strip().split()) >= 3
    ]
    chinese = [
        part.strip()
        for entry in entries
        for part in placeholder.split(entry.msgstrs[0])
        if len(part.strip()) >= 5 and part.strip() not in entry.msgid
    ]
    return english, chinese


def pages(world) -> list[tuple[str, str]]:
    returned = issue_in(world, "reported")
    extension = issue_in(world, "in_progress")
    pending_extension(extension, world)
    escalated = issue_in(world, "assigned")
    services.issue_escalate(issue=escalated, actor=world.supervisor_xincheng, level=2, note="督办")
    staff_create(
        actor=world.admin_zone,
        username="newcomer",
        full_name="新人",
        role="inspector",
        all_districts=True,
        password="a-long-unusual-passphrase",
    )
    world.admin_zone.is_staff = True
    world.admin_zone.save()
    return [
        ("inspector_xincheng", reverse("home")),
        ("handler_xincheng", reverse("home")),
        ("supervisor_xincheng", reverse("home")),
        ("leader_zone", reverse("home")),
        ("supervisor_xincheng", reverse("issues:issue_list")),
        ("supervisor_xincheng", reverse("issues:triage")),
        ("supervisor_xincheng", reverse("issues:verify_queue")),
        ("supervisor_xincheng", reverse("issues:extension_queue")),
        ("supervisor_xincheng", reverse("issues:notification_list")),
        ("supervisor_xincheng", returned.get_absolute_url()),
        ("supervisor_xincheng", extension.get_absolute_url()),
        ("supervisor_xincheng", escalated.get_absolute_url()),
        ("inspector_xincheng", reverse("issues:issue_report")),
        ("admin_zone", reverse("districts:index")),
        ("admin_zone", reverse("districts:staff_list")),
        ("admin_zone", reverse("districts:staff_create")),
        ("admin_zone", reverse("districts:audit")),
        ("admin_zone", reverse("districts:coverage")),
        ("admin_zone", reverse("districts:matrix", args=[world.district_a.pk])),
        ("admin_zone", reverse("admin:issues_issueevent_changelist")),
        ("admin_zone", reverse("admin:issues_notification_changelist")),
        ("admin_zone", reverse("admin:districts_auditentry_changelist")),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_words_every_page_speaks_one_language_without_raw_codes(client, world, catalogue, language):
    english, chinese = catalogue
    # Place and organisation names are data, written in Chinese whatever the reader's language.
    names = [
        name
        for model in (District, Community, InspectionPoint, Organisation, Category, PointType)
        for name in model.objects.values_list("name", flat=True)
    ]
    chinese = [phrase for phrase in chinese if not any(phrase in name for name in names)]
    foreign = english if language == "zh-hans" else chinese
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    problems = []
    for persona, url in pages(world):
        client.force_login(getattr(world, persona))
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        problems += [
            f"{url}: raw code {code!r}"
            for code in set(RAW_CODE.findall(text))
            if code not in usernames  # a login name is data, like a place name
        ]
        problems += [f"{url}: {phrase!r}" for phrase in foreign if phrase in text]
    assert problems == [], "\n".join(sorted(problems))
