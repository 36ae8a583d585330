"""The Simplified Chinese catalogue is complete, compiled, keeps its placeholders and is served."""

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


@dataclass
class Entry:
    """One message of a .po file: its flags, msgid (and plural) and the translations."""

    flags: set[str] = field(default_factory=set)
    msgid: str = ""
    plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)


def read_po(path: Path) -> list[Entry]:
    """Read a .po file without polib: enough of the format for makemessages' output."""
    entries: list[Entry] = []
    entry = Entry()
    target: str | None = None

    def flush() -> None:
        nonlocal entry, target
        if target is not None:
            entries.append(entry)
        entry, target = Entry(), None

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            flush()
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue  # references, comments and obsolete (#~) entries
        elif line.startswith('"'):
            text = ast.literal_eval(line)
            if target == "msgid":
                entry.msgid += text
            elif target == "msgid_plural":
                entry.plural = (entry.plural or "") + text
            else:
                entry.msgstrs[-1] += text
        else:
            keyword, _, rest = line.partition(" ")
            text = ast.literal_eval(rest)
            if keyword == "msgid":
                target, entry.msgid = "msgid", text
            elif keyword == "msgid_plural":
                target, entry.plural = "msgid_plural", text
            else:  # msgstr or msgstr[n]
                target = "msgstr"
                entry.msgstrs.append(text)
    flush()
    return entries


@pytest.fixture(scope="module")
def messages() -> list[Entry]:
    """The catalogue's messages, without its header."""
    return [entry for entry in read_po(CATALOGUE / "django.po") if entry.msgid]


def test_the_catalogue_declares_one_plural_form_for_chinese():
    header = next(entry for entry in read_po(CATALOGUE / "django.po") if not entry.msgid)
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstrs[0]
    assert "fuzzy" not in header.flags


def test_every_message_is_translated_and_none_is_fuzzy(messages):
    assert len(messages) > 500
    untranslated = [entry.msgid for entry in messages if not all(entry.msgstrs)]
    fuzzy = [entry.msgid for entry in messages if "fuzzy" in entry.flags]
    assert untranslated == []
    assert fuzzy == []


def test_plural_messages_have_exactly_one_form(messages):
    plurals = [entry for entry in messages if entry.plural is not None]
    assert plurals
    assert [entry.msgid for entry in plurals if len(entry.msgstrs) != 1] == []


def test_translations_keep_every_placeholder_of_their_msgid(messages):
    broken = []
    for entry in messages:
        wanted = set(PLACEHOLDER.findall(entry.msgid)) | set(
            PLACEHOLDER.findall(entry.plural or "")
        )
        for msgstr in entry.msgstrs:
            if set(PLACEHOLDER.findall(msgstr)) != wanted:
                broken.append((entry.msgid, msgstr))
    assert broken == []


def test_the_compiled_catalogue_matches_the_po_file(messages):
    with (CATALOGUE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages:
        if entry.plural is None:
            if compiled.gettext(entry.msgid) != entry.msgstrs[0]:
                stale.append(entry.msgid)
        elif compiled.ngettext(entry.msgid, entry.plural, 2) != entry.msgstrs[0]:
            stale.append(entry.msgid)
    assert stale == [], "run manage.py compilemessages -l zh_Hans"


@pytest.mark.django_db
def test_the_login_page_speaks_chinese_by_default(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    page = response.content.decode()
    assert "登录" in page
    assert "Log in" not in page


@pytest.mark.django_db
def test_the_login_page_speaks_english_when_the_browser_asks_for_it(client):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    page = response.content.decode()
    assert "Log in" in page
    assert "登录" not in page


def test_an_inspectors_home_page_reads_in_chinese_with_domain_terms(client, world):
    client.force_login(world.inspector_xincheng)
    page = client.get(reverse("home")).content.decode()
    assert "上报问题" in page
    assert "Report a problem" not in page


def test_an_inspectors_home_page_reads_in_english_on_request(client, world):
    client.force_login(world.inspector_xincheng)
    page = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Report a problem" in page
    assert "上报问题" not in page
