"""Every change to an issue: one atomic service per action, each writing exactly one IssueEvent.

The pattern of each service: lock the issue row (two clicks, two people or a worker must not both
win), pass `require` (the role, then the state, then the rest of who may), validate the inputs
with field-specific messages, take the new status from the transitions table, update the row with
`update_fields`, append one event with its photos, and write the in-app notifications in the same
transaction. Nothing outside the database happens here.

Callers use `from issues import services` and `services.issue_<verb>(...)`; the modules below
only group the services by the part of the lifecycle they serve.
"""

from collections.abc import Callable
from typing import Any

from issues.models import Action
from issues.services.core import replayed_event, require
from issues.services.escalations import (
    ReminderEscalation,
    escalations_write,
    issue_escalate,
    issues_escalate_for_reminders,
)
from issues.services.extensions import (
    extension_approve,
    extension_refuse,
    extension_request,
)
from issues.services.reports import (
    issue_change_category,
    issue_create,
    issue_dispatch,
    issue_fix_on_spot,
    issue_mark_duplicate,
    issue_reject,
)
from issues.services.work import (
    issue_acknowledge,
    issue_cancel,
    issue_park,
    issue_reassign,
    issue_reopen,
    issue_resume,
    issue_return,
    issue_submit_fix,
    issue_verify_fail,
    issue_verify_pass,
)

# The service of each action in the transitions table; views and tests dispatch through it.
SERVICE_FOR_ACTION: dict[str, Callable[..., Any]] = {
    Action.DISPATCH: issue_dispatch,
    Action.REJECT: issue_reject,
    Action.MARK_DUPLICATE: issue_mark_duplicate,
    Action.FIX_ON_SPOT: issue_fix_on_spot,
    Action.ACKNOWLEDGE: issue_acknowledge,
    Action.RETURN: issue_return,
    Action.REASSIGN: issue_reassign,
    Action.SUBMIT_FIX: issue_submit_fix,
    Action.VERIFY_PASS: issue_verify_pass,
    Action.VERIFY_FAIL: issue_verify_fail,
    Action.PARK: issue_park,
    Action.RESUME: issue_resume,
    Action.CANCEL: issue_cancel,
    Action.REOPEN: issue_reopen,
    Action.CHANGE_CATEGORY: issue_change_category,
    Action.REQUEST_EXTENSION: extension_request,
    Action.APPROVE_EXTENSION: extension_approve,
    Action.REFUSE_EXTENSION: extension_refuse,
    Action.ESCALATE: issue_escalate,
}

__all__ = [
    "SERVICE_FOR_ACTION",
    "ReminderEscalation",
    "escalations_write",
    "extension_approve",
    "extension_refuse",
    "extension_request",
    "issue_acknowledge",
    "issue_cancel",
    "issue_change_category",
    "issue_create",
    "issue_dispatch",
    "issue_escalate",
    "issue_fix_on_spot",
    "issue_mark_duplicate",
    "issue_park",
    "issue_reassign",
    "issue_reject",
    "issue_reopen",
    "issue_resume",
    "issue_return",
    "issue_submit_fix",
    "issue_verify_fail",
    "issue_verify_pass",
    "issues_escalate_for_reminders",
    "replayed_event",
    "require",
]
