"""Helpers for the lifecycle tests: photos, extensions, snapshots (issues: `factories.issue_in`)."""

from __future__ import annotations

import datetime
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from issues import services
from issues.models import (
    Action,
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    Status,
)
from issues.photos import PreparedPhoto, prepare_photos
from tests.factories import CategoryFactory, World, issue_in


def jpeg_upload(name: str = "fix.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 120, 200)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def photos(count: int = 1) -> list[PreparedPhoto]:
    """Prepared photos as a view would pass them to a service."""
    return prepare_photos([jpeg_upload(f"photo-{n}.jpg") for n in range(count)])


def pending_extension(issue: Issue, world: World, **overrides: Any) -> ExtensionRequest:
    fields: dict[str, Any] = {
        "issue": issue,
        "requested_by": world.handler_xincheng,
        "reason": "需要协调车辆",
        "requested_deadline": timezone.now() + datetime.timedelta(days=3),
    }
    fields.update(overrides)
    return ExtensionRequest.objects.create(**fields)


def snapshot(issue: Issue) -> dict[str, Any]:
    """Everything a refused action must leave as it was: the row, its log and its side records."""
    row = Issue.objects.get(pk=issue.pk)
    return {
        "issue": {field.attname: getattr(row, field.attname) for field in Issue._meta.fields},
        "events": list(
            IssueEvent.objects.filter(issue_id=issue.pk).values_list("pk", "action", "to_status")
        ),
        "extensions": list(
            ExtensionRequest.objects.filter(issue_id=issue.pk).values_list("pk", "status")
        ),
        "escalations": list(Escalation.objects.filter(issue_id=issue.pk).values_list("pk")),
        "photos": list(Photo.objects.filter(issue_id=issue.pk).values_list("pk")),
        "notifications": list(
            Notification.objects.filter(issue_id=issue.pk).values_list("pk", "user_id")
        ),
    }


def new_events(issue: Issue, before: dict[str, Any]) -> list[IssueEvent]:
    known = {pk for pk, *_ in before["events"]}
    return list(IssueEvent.objects.filter(issue_id=issue.pk).exclude(pk__in=known))


# Who normally takes each action in these tests (a persona of `World`).
USUAL_ACTOR = {
    Action.DISPATCH: "supervisor_xincheng",
    Action.REJECT: "supervisor_xincheng",
    Action.MARK_DUPLICATE: "supervisor_xincheng",
    Action.FIX_ON_SPOT: "inspector_xincheng",
    Action.ACKNOWLEDGE: "handler_xincheng",
    Action.RETURN: "handler_xincheng",
    Action.REASSIGN: "supervisor_xincheng",
    Action.SUBMIT_FIX: "handler_xincheng",
    Action.VERIFY_PASS: "supervisor_xincheng",
    Action.VERIFY_FAIL: "supervisor_xincheng",
    Action.PARK: "supervisor_xincheng",
    Action.RESUME: "supervisor_xincheng",
    Action.CANCEL: "supervisor_xincheng",
    Action.REOPEN: "supervisor_xincheng",
    Action.REQUEST_EXTENSION: "handler_xincheng",
    Action.APPROVE_EXTENSION: "supervisor_xincheng",
    Action.REFUSE_EXTENSION: "supervisor_xincheng",
    Action.ESCALATE: "supervisor_xincheng",
    Action.CHANGE_CATEGORY: "supervisor_xincheng",
}


def prepare_for(world: World, action: str, issue: Issue) -> dict[str, Any]:
    """Valid inputs for the action on the issue, creating what they refer to."""
    later = timezone.now() + datetime.timedelta(days=3)
    if action in (Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION):
        extension = issue.extension_requests.filter(status="pending").first()
        return {"extension": extension or pending_extension(issue, world)}
    if action == Action.MARK_DUPLICATE:
        return {"duplicate_of": issue_in(world, Status.ASSIGNED)}
    if action == Action.CHANGE_CATEGORY:
        return {"category": CategoryFactory(limit_value=5, limit_unit="H")}
    return {
        Action.DISPATCH: {"organisation": world.org_x},
        Action.REJECT: {"reason": "不属于城市管理范围"},
        Action.FIX_ON_SPOT: {"photos": photos()},
        Action.ACKNOWLEDGE: {},
        Action.RETURN: {"reason": "不属于本单位职责"},
        Action.REASSIGN: {"organisation": world.org_y},
        Action.SUBMIT_FIX: {"photos": photos()},
        Action.VERIFY_PASS: {},
        Action.VERIFY_FAIL: {"reason": "仍有垃圾"},
        Action.PARK: {
            "reason": "需等待道路改造",
            "review_date": timezone.localdate() + datetime.timedelta(days=14),
        },
        Action.RESUME: {},
        Action.CANCEL: {"reason": "重复录入"},
        Action.REOPEN: {},
        Action.REQUEST_EXTENSION: {"reason": "需要协调车辆", "requested_deadline": later},
        Action.ESCALATE: {"level": 1},
    }[action]


def perform(action: str, issue: Issue, actor, inputs: dict[str, Any]):
    """Call the action's service the way a view would."""
    service = services.SERVICE_FOR_ACTION[action]
    if "extension" in inputs:
        return service(actor=actor, **inputs)
    return service(issue=issue, actor=actor, **inputs)
