"""Turning claimed deliveries into one Message: what each case is, where, and how late.

Rendered at send time, so the lateness is current; only the few rows of one message are read,
as named rows (`selectors.CaseRow`), never the whole ledger.
"""

from __future__ import annotations

import datetime
import functools
import urllib.parse
from collections import Counter
from collections.abc import Sequence

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from issues.models import CLOCK_STATUSES, EscalationLevel, Issue
from reminders.channels import Message, MessageItem, MessageLink
from reminders.models import Reminder
from reminders.selectors import CaseRow, ClaimedDelivery

# Names as (name, English name): the place and organisation names of a message.
Names = tuple[str, str]


@functools.lru_cache(maxsize=16)
def _words(language: str) -> dict[str, str]:
    """The phrases every case line uses, looked up once per language instead of per case."""
    with translation.override(language):
        return {
            "days": _("%(days)d d %(hours)d h"),
            "hours": _("%(hours)d h %(minutes)d min"),
            "minutes": _("%(minutes)d min"),
            "waiting": _("waiting for verification for %(duration)s"),
            "due_in": _("due in %(duration)s"),
            "overdue_by": _("overdue by %(duration)s"),
            Reminder.Kind.DUE_SOON: _("Case %(case)s is due soon"),
            Reminder.Kind.OVERDUE: _("Case %(case)s is overdue"),
            Reminder.Kind.ESCALATION: _("Case %(case)s is escalated"),
            Reminder.Kind.AWAITING_VERIFICATION: _("Case %(case)s is waiting for verification"),
            **{f"level:{level.value}": str(level.label) for level in EscalationLevel},
        }


def words() -> dict[str, str]:
    return _words(translation.get_language() or settings.LANGUAGE_CODE)


def format_duration(seconds: float, vocabulary: dict[str, str] | None = None) -> str:
    """A short, readable span: "2 d 3 h", "3 h 20 min", "45 min"."""
    vocabulary = vocabulary or words()
    minutes = max(int(seconds // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return vocabulary["days"] % {"days": days, "hours": hours}
    if hours:
        return vocabulary["hours"] % {"hours": hours, "minutes": minutes}
    return vocabulary["minutes"] % {"minutes": minutes}


def localised(name: str, name_en: str, *, english: bool | None = None) -> str:
    """The name in the active language, as the models' `display_name` picks it."""
    if english is None:
        english = (translation.get_language() or settings.LANGUAGE_CODE).startswith("en")
    return name_en if english and name_en else name


@functools.lru_cache(maxsize=8)
def _issue_path_template(prefix: str, urlconf: str | None) -> str:
    marker = 987654321
    path = reverse("issues:issue_detail", kwargs={"pk": marker})
    return path.replace(str(marker), "{pk}")


def issue_link(issue_id: int) -> str:
    """The absolute link to an issue's page (reversed once, then filled in per case)."""
    template = _issue_path_template(get_script_prefix(), get_urlconf())
    return settings.REMINDER_SITE_URL.rstrip("/") + template.format(pk=issue_id)


def place_text(community: str, point_name: str | None, address: str) -> str:
    parts = [community]
    if point_name:
        parts.append(point_name)
    elif address:
        parts.append(Truncator(address).chars(40))
    return " ".join(parts)


def _status_text(case: CaseRow, now: datetime.datetime, vocabulary: dict[str, str]) -> str:
    if case.kind == Reminder.Kind.AWAITING_VERIFICATION:
        waited = format_duration((now - case.deadline).total_seconds(), vocabulary)
        return vocabulary["waiting"] % {"duration": waited}
    late = (now - case.deadline).total_seconds()
    if late < 0:
        return vocabulary["due_in"] % {"duration": format_duration(-late, vocabulary)}
    text = vocabulary["overdue_by"] % {"duration": format_duration(late, vocabulary)}
    if case.level >= EscalationLevel.SUPERVISION_LETTER:
        text = f"{vocabulary[f'level:{case.level}']} · {text}"
    return text


def reminder_items(cases: Sequence[CaseRow], now: datetime.datetime) -> tuple[MessageItem, ...]:
    """The cases of a message, in the active language (looked up once for all of them)."""
    vocabulary = words()
    english = (translation.get_language() or settings.LANGUAGE_CODE).startswith("en")
    template = _issue_path_template(get_script_prefix(), get_urlconf())
    base = settings.REMINDER_SITE_URL.rstrip("/")
    return tuple(
        MessageItem(
            key=case.key,
            issue_id=case.issue_id,
            kind=case.kind,
            case_number=case.case_number,
            headline=vocabulary[case.kind] % {"case": case.case_number},
            category=localised(case.category_name, case.category_name_en, english=english),
            place=place_text(
                localised(case.community_name, case.community_name_en, english=english),
                case.point_name,
                case.address,
            ),
            status=_status_text(case, now, vocabulary),
            link=base + template.format(pk=case.issue_id),
        )
        for case in cases
    )


def _title(kinds: set[str], count: int, owner: str) -> str:
    params = {"count": count, "organisation": owner}
    if kinds == {Reminder.Kind.DUE_SOON}:
        return _("Due soon: %(count)d case(s) of %(organisation)s") % params
    if kinds == {Reminder.Kind.OVERDUE}:
        return _("Overdue: %(count)d case(s) of %(organisation)s") % params
    if kinds == {Reminder.Kind.ESCALATION}:
        return _("Escalated: %(count)d case(s) of %(organisation)s") % params
    if kinds == {Reminder.Kind.AWAITING_VERIFICATION}:
        return _("Waiting for verification: %(count)d case(s)") % params
    return _("Reminders: %(count)d case(s) of %(organisation)s") % params


def _owner(names: Names | None) -> str:
    return localised(*names) if names else _("the zone")


def reminder_message(
    cases: Sequence[CaseRow],
    *,
    owner: Names | None,
    now: datetime.datetime,
    language: str = "",
) -> Message:
    """One message for the reminders of one target, in `language` (default: the site's).

    `owner` names the organisation the cases belong to (None: the zone office).
    """
    with translation.override(language or settings.LANGUAGE_CODE):
        items = reminder_items(cases, now)
        return Message(
            title=_title({case.kind for case in cases}, len(items), _owner(owner)),
            intro=_("Please deal with these cases in civicapp."),
            items=items,
        )


def digest_issues(organisation_id: int | None, *, urgent_only: bool, now: datetime.datetime):
    """The cases a digest lists now: the organisation's open overdue issues."""
    queryset = Issue.objects.filter(
        assigned_organisation_id=organisation_id,
        status__in=CLOCK_STATUSES,
        deadline__lt=now,
    )
    if urgent_only:
        queryset = queryset.filter(category__severity="urgent")
    return queryset


def digest_message(
    delivery: ClaimedDelivery, *, owner: Names | None, now: datetime.datetime, max_items: int
) -> Message | None:
    """The daily digest of one organisation: how many cases are overdue, the oldest first."""
    queryset = digest_issues(
        delivery.organisation_id, urgent_only=bool(delivery.payload.get("urgent_only")), now=now
    )
    total = queryset.count()
    if not total:
        return None
    issues = list(
        queryset.select_related("category", "community", "point").order_by("deadline", "id")[
            :max_items
        ]
    )
    with translation.override(settings.LANGUAGE_CODE):
        items = tuple(
            MessageItem(
                key=f"digest:{delivery.digest_date}:{issue.pk}",
                issue_id=issue.pk,
                kind="digest",
                case_number=issue.case_number,
                headline=issue.case_number,
                category=issue.category.display_name,
                place=place_text(
                    issue.community.display_name,
                    issue.point.name if issue.point_id else None,
                    issue.address,
                ),
                status=words()["overdue_by"]
                % {"duration": format_duration((now - issue.deadline).total_seconds())},
                link=issue_link(issue.pk),
            )
            for issue in issues
        )
        return Message(
            title=_("Daily digest: %(count)d overdue case(s) of %(organisation)s")
            % {"count": total, "organisation": _owner(owner)},
            intro=_("The oldest first. Please deal with them in civicapp."),
            items=items,
            more=total - len(items),
        )


# The issue list's own filter parameters (issues/filters.py): open, overdue cases at these
# escalation levels, soonest deadline first, within what the reader may see.
SUMMARY_LIST_LEVELS = {"supervisors": (2, 3), "zone_office": (3,)}


def escalated_list_path(levels: Sequence[int]) -> str:
    query = [("overdue", "true"), *(("escalation_level", str(level)) for level in levels)]
    query.append(("sort", "deadline"))
    return f"{reverse('issues:issue_list')}?{urllib.parse.urlencode(query)}"


def _level_label(kind: str, level: int) -> str:
    if kind == Reminder.Kind.AWAITING_VERIFICATION:
        return _("awaiting verification")
    return str(EscalationLevel(level).label)


def summary_message(
    delivery: ClaimedDelivery,
    cases: Sequence[CaseRow],
    *,
    now: datetime.datetime,
    language: str = "",
    max_items: int,
) -> Message:
    """One run's summary for one person or zone channel: counts per level, links, oldest cases.

    `cases` are the summary's reminders that still describe their cases.
    """
    group = delivery.payload.get("covers", {}).get("group", "supervisors")
    with translation.override(language or settings.LANGUAGE_CODE):
        counts = Counter((case.kind, case.level) for case in cases)
        order = sorted(counts, key=lambda key: (key[0] == Reminder.Kind.AWAITING_VERIFICATION, key))
        intro = " · ".join(
            _("%(level)s: %(count)d") % {"level": _level_label(*key), "count": counts[key]}
            for key in order
        )
        links = []
        if any(kind != Reminder.Kind.AWAITING_VERIFICATION for kind, _level in counts):
            path = escalated_list_path(SUMMARY_LIST_LEVELS.get(group, (2, 3)))
            links.append(MessageLink(label=_("The escalated cases"), path=path))
        if (Reminder.Kind.AWAITING_VERIFICATION, 0) in counts:
            links.append(
                MessageLink(
                    label=_("The fixes waiting for verification"),
                    path=reverse("issues:verify_queue"),
                )
            )
        oldest = sorted(cases, key=lambda case: (case.deadline, case.reminder_id))
        items = reminder_items(oldest[:max_items], now)
        return Message(
            title=_("Reminder summary: %(count)d case(s) need attention") % {"count": len(cases)},
            intro=intro,
            items=items,
            more=len(cases) - len(items),
            links=tuple(links),
            summary_key=delivery.idempotency_key,
        )
