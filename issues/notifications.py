"""In-app notifications for issue events, written in the event's own transaction.

A notification exists exactly when its event does: both commit or neither does, so none is lost
and none announces a change that was rolled back. The actor is never notified of their own act.
Titles and bodies are rendered in each recipient's saved interface language (Chinese by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from districts.selectors import handlers_of, supervisors_for, zone_office
from issues.models import Action, EscalationLevel, IssueEvent, Notification

HANDLERS = "handlers"  # the assigned organisation's handlers
SUPERVISORS = "supervisors"  # supervisors whose districts cover the issue
REPORTER = "reporter"  # whoever reported the issue
ZONE_OFFICE = "zone_office"  # the admins, at the last escalation level

# Who hears about what (docs/domain.md §4-5): the organisation hears about its work,
# supervisors about what waits for them, reporters how their report ended.
AUDIENCES: dict[str, frozenset[str]] = {
    Action.DISPATCH: frozenset({HANDLERS}),
    Action.REASSIGN: frozenset({HANDLERS}),
    Action.REOPEN: frozenset({HANDLERS}),
    Action.VERIFY_FAIL: frozenset({HANDLERS}),
    Action.APPROVE_EXTENSION: frozenset({HANDLERS}),
    Action.REFUSE_EXTENSION: frozenset({HANDLERS}),
    Action.PARK: frozenset({HANDLERS}),
    Action.RESUME: frozenset({HANDLERS}),
    Action.CHANGE_CATEGORY: frozenset({HANDLERS}),
    Action.SUBMIT_FIX: frozenset({SUPERVISORS}),
    Action.RETURN: frozenset({SUPERVISORS}),
    Action.REQUEST_EXTENSION: frozenset({SUPERVISORS}),
    Action.VERIFY_PASS: frozenset({REPORTER}),
    Action.REJECT: frozenset({REPORTER}),
    Action.MARK_DUPLICATE: frozenset({REPORTER}),
    Action.FIX_ON_SPOT: frozenset({REPORTER}),
    Action.CANCEL: frozenset({REPORTER, HANDLERS}),
    Action.ESCALATE: frozenset({HANDLERS, SUPERVISORS}),
}

TITLES: dict[str, str | Promise] = {
    Action.DISPATCH: _("New case %(case)s for %(organisation)s"),
    Action.REASSIGN: _("Case %(case)s reassigned to %(organisation)s"),
    Action.REOPEN: _("Case %(case)s reopened"),
    Action.VERIFY_FAIL: _("Case %(case)s needs rework"),
    Action.APPROVE_EXTENSION: _("Extension approved for case %(case)s"),
    Action.REFUSE_EXTENSION: _("Extension refused for case %(case)s"),
    Action.PARK: _("Case %(case)s parked"),
    Action.RESUME: _("Case %(case)s resumed"),
    Action.CHANGE_CATEGORY: _("Category of case %(case)s changed"),
    Action.SUBMIT_FIX: _("Fix submitted for case %(case)s"),
    Action.RETURN: _("Case %(case)s returned by %(organisation)s"),
    Action.REQUEST_EXTENSION: _("Extension requested for case %(case)s"),
    Action.VERIFY_PASS: _("Your report %(case)s is fixed and closed"),
    Action.REJECT: _("Your report %(case)s was not filed"),
    Action.MARK_DUPLICATE: _("Your report %(case)s duplicates another case"),
    Action.FIX_ON_SPOT: _("Case %(case)s fixed on the spot"),
    Action.CANCEL: _("Case %(case)s cancelled"),
    Action.ESCALATE: _("Case %(case)s escalated: %(level)s"),
}


def audience_of(event: IssueEvent) -> frozenset[str]:
    """The recipient groups of an event; escalation to level 3 adds the zone office."""
    groups = AUDIENCES.get(event.action, frozenset())
    if event.action == Action.ESCALATE and event.data.get("level") == EscalationLevel.LISTED:
        groups |= {ZONE_OFFICE}
    return groups


def recipient_ids(event: IssueEvent) -> set[int]:
    """Active users who should hear about the event, without its actor."""
    issue = event.issue
    sources: dict[str, Callable[[], Iterable[int]]] = {
        HANDLERS: lambda: (
            handlers_of(issue.assigned_organisation_id).values_list("pk", flat=True)
            if issue.assigned_organisation_id
            else ()
        ),
        SUPERVISORS: lambda: supervisors_for(issue.district_id).values_list("pk", flat=True),
        REPORTER: lambda: [issue.reporter_id] if issue.reporter.is_active else [],
        ZONE_OFFICE: lambda: zone_office().values_list("pk", flat=True),
    }
    ids: set[int] = set()
    for group in audience_of(event):
        ids.update(sources[group]())
    ids.discard(event.actor_id)
    return ids


def render(event: IssueEvent) -> tuple[str, str]:
    """A short title and body for the event, in the active language."""
    issue = event.issue
    organisation = event.organisation.display_name if event.organisation_id else ""
    level = ""
    if event.action == Action.ESCALATE and event.data.get("level") in EscalationLevel.values:
        level = str(EscalationLevel(event.data["level"]).label)
    title = str(TITLES.get(event.action, _("Case %(case)s updated"))) % {
        "case": issue.case_number,
        "organisation": organisation,
        "level": level,
    }
    lines = [issue.category.display_name]
    if event.note:
        lines.append(Truncator(event.note).chars(200))
    if event.new_deadline is not None:
        lines.append(
            str(_("Deadline: %(deadline)s"))
            % {"deadline": timezone.localtime(event.new_deadline).strftime("%Y-%m-%d %H:%M")}
        )
    return Truncator(title).chars(200), "\n".join(lines)


def notify_event(event: IssueEvent) -> list[Notification]:
    """Write the event's notifications; run inside the service's transaction."""
    ids = recipient_ids(event)
    if not ids:
        return []
    languages = dict(
        get_user_model().objects.filter(pk__in=ids).values_list("pk", "membership__language")
    )
    rendered: dict[str, tuple[str, str]] = {}
    rows = []
    for user_id in sorted(ids):
        language = languages.get(user_id) or settings.LANGUAGE_CODE
        if language not in rendered:
            with translation.override(language):
                rendered[language] = render(event)
        title, body = rendered[language]
        rows.append(
            Notification(
                user_id=user_id,
                issue_id=event.issue_id,
                event=event,
                kind=event.action,
                title=title,
                body=body,
                created_at=event.created_at,
            )
        )
    # A unique (user, event) constraint makes a repeated call harmless.
    return Notification.objects.bulk_create(rows, ignore_conflicts=True)
