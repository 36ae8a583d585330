"""Turning claimed deliveries into one Message: what each case is, where, and how late.

Rendered at send time in the site's default language, so the lateness is current; only the
few rows of one message are read, never the whole ledger.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections import Counter
from collections.abc import Sequence

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from issues.models import CLOCK_STATUSES, EscalationLevel, Issue
from reminders.channels import Message, MessageItem, MessageLink
from reminders.models import Delivery, Reminder


def format_duration(seconds: float) -> str:
    """A short, readable span: "2 d 3 h", "3 h 20 min", "45 min"."""
    minutes = max(int(seconds // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def issue_link(issue: Issue) -> str:
    base = settings.REMINDER_SITE_URL.rstrip("/")
    try:
        path = issue.get_absolute_url()
    except NoReverseMatch:
        path = f"/issues/{issue.pk}/"
    return f"{base}{path}"


def issue_place(issue: Issue) -> str:
    parts = [issue.community.display_name]
    if issue.point_id:
        parts.append(issue.point.name)
    elif issue.address:
        parts.append(Truncator(issue.address).chars(40))
    return " ".join(parts)


def _status_text(reminder: Reminder, issue: Issue, now: datetime.datetime) -> str:
    if reminder.kind == Reminder.Kind.AWAITING_VERIFICATION:
        waited = format_duration((now - reminder.deadline).total_seconds())
        return _("waiting for verification for %(duration)s") % {"duration": waited}
    late = (now - reminder.deadline).total_seconds()
    if late < 0:
        return _("due in %(duration)s") % {"duration": format_duration(-late)}
    text = _("overdue by %(duration)s") % {"duration": format_duration(late)}
    if reminder.level >= EscalationLevel.SUPERVISION_LETTER:
        text = f"{EscalationLevel(reminder.level).label} · {text}"
    return text


def _headline(kind: str, case: str) -> str:
    templates = {
        Reminder.Kind.DUE_SOON: _("Case %(case)s is due soon"),
        Reminder.Kind.OVERDUE: _("Case %(case)s is overdue"),
        Reminder.Kind.ESCALATION: _("Case %(case)s is escalated"),
        Reminder.Kind.AWAITING_VERIFICATION: _("Case %(case)s is waiting for verification"),
    }
    return templates[kind] % {"case": case}


def reminder_item(reminder: Reminder, now: datetime.datetime) -> MessageItem:
    issue = reminder.issue
    return MessageItem(
        key=reminder.key,
        issue_id=issue.pk,
        kind=reminder.kind,
        case_number=issue.case_number,
        headline=_headline(reminder.kind, issue.case_number),
        category=issue.category.display_name,
        place=issue_place(issue),
        status=_status_text(reminder, issue, now),
        link=issue_link(issue),
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


def _owner(delivery: Delivery) -> str:
    if delivery.organisation_id:
        return delivery.organisation.display_name
    return _("the zone")


def reminder_message(
    deliveries: Sequence[Delivery], *, now: datetime.datetime, language: str = ""
) -> Message:
    """One message for the reminders of one target, in `language` (default: the site's)."""
    with translation.override(language or settings.LANGUAGE_CODE):
        items = tuple(reminder_item(delivery.reminder, now) for delivery in deliveries)
        kinds = {delivery.reminder.kind for delivery in deliveries}
        return Message(
            title=_title(kinds, len(items), _owner(deliveries[0])),
            intro=_("Please deal with these cases in civicapp."),
            items=items,
        )


def digest_issues(delivery: Delivery, *, now: datetime.datetime):
    """The cases a digest lists now: the organisation's open overdue issues, latest first."""
    queryset = Issue.objects.filter(
        assigned_organisation_id=delivery.organisation_id,
        status__in=CLOCK_STATUSES,
        deadline__lt=now,
    )
    if delivery.payload.get("urgent_only"):
        queryset = queryset.filter(category__severity="urgent")
    return queryset


def digest_message(delivery: Delivery, *, now: datetime.datetime, max_items: int) -> Message | None:
    """The daily digest of one organisation: how many cases are overdue, the oldest first."""
    queryset = digest_issues(delivery, now=now)
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
                place=issue_place(issue),
                status=_("overdue by %(duration)s")
                % {"duration": format_duration((now - issue.deadline).total_seconds())},
                link=issue_link(issue),
            )
            for issue in issues
        )
        return Message(
            title=_("Daily digest: %(count)d overdue case(s) of %(organisation)s")
            % {"count": total, "organisation": _owner(delivery)},
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
    delivery: Delivery,
    reminders: Sequence[Reminder],
    *,
    now: datetime.datetime,
    language: str = "",
    max_items: int,
) -> Message:
    """One run's summary for one person or zone channel: counts per level, links, oldest cases.

    `reminders` are the summary's reminders that still describe their cases.
    """
    group = delivery.payload.get("covers", {}).get("group", "supervisors")
    with translation.override(language or settings.LANGUAGE_CODE):
        counts = Counter((reminder.kind, reminder.level) for reminder in reminders)
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
        oldest = sorted(reminders, key=lambda reminder: (reminder.deadline, reminder.pk))
        items = tuple(reminder_item(reminder, now) for reminder in oldest[:max_items])
        return Message(
            title=_("Reminder summary: %(count)d case(s) need attention")
            % {"count": len(reminders)},
            intro=intro,
            items=items,
            more=len(reminders) - len(items),
            links=tuple(links),
            summary_key=delivery.idempotency_key,
        )
