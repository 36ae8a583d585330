"""Read models that pages need and that span rows: built here, never in views or templates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from issues.models import Action, IssueEvent


def returns_by_issue(issue_ids: Iterable[int]) -> dict[int, list[IssueEvent]]:
    """Each issue's returns (回退), newest first, with the returning organisation; one query."""
    found: dict[int, list[IssueEvent]] = defaultdict(list)
    rows = (
        IssueEvent.objects.filter(issue_id__in=list(issue_ids), action=Action.RETURN)
        .select_related("organisation")
        .order_by("-created_at", "-id")
    )
    for event in rows:
        found[event.issue_id].append(event)
    return found


def returning_organisations(returns: Iterable[IssueEvent]) -> frozenset[int]:
    """The organisations that returned a case: routing skips them for that case."""
    return frozenset(event.organisation_id for event in returns if event.organisation_id)
