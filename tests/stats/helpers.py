"""Helpers of the stats tests: how many cases the issue list shows for a dashboard link, and the
KPI rollup kept for cases the factories write."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from django.db.models import signals
from django.http import QueryDict
from django.test import RequestFactory
from django.urls import resolve

from issues.filters import IssueFilterSet
from issues.models import Issue, IssueEvent


def list_count(user, url: str) -> int:
    """The number of rows the issue list at `url` holds for `user` (the list's own filterset)."""
    parts = urlsplit(url)
    assert resolve(parts.path).view_name == "issues:issue_list", url
    request = RequestFactory().get(url)
    request.user = user
    filterset = IssueFilterSet(
        QueryDict(parts.query), queryset=Issue.objects.visible_to(user), request=request
    )
    assert filterset.is_valid(), (url, filterset.errors)
    return filterset.qs.count()


@contextlib.contextmanager
def rollup_follows_the_factories():
    """Keep the KPI rollup in step with cases the factories write straight to the database.

    The services keep it themselves (`issues.services.core.CHANGE_HOOKS`); factories skip them,
    so here each saved or deleted case, and each event, recomputes the rows that count its case,
    before and after, exactly as a service would. Bulk writes emit no signal: call
    `stats.rollup.rebuild()` after them, as the benchmark does after its load.
    """
    from stats import rollup

    def before(sender, instance, **kwargs):
        if instance.pk:
            old = Issue.objects.filter(pk=instance.pk).values(*rollup.KEY_FIELDS).first()
            instance._rollup_test_before = old

    def after(sender, instance, **kwargs):
        rollup.issue_changed(instance, getattr(instance, "_rollup_test_before", None))

    def event_saved(sender, instance, **kwargs):
        issue = Issue.objects.filter(pk=instance.issue_id).first()
        if issue is not None:
            rollup.issue_changed(issue, None)

    signals.pre_save.connect(before, sender=Issue, dispatch_uid="rollup-test-before")
    signals.post_save.connect(after, sender=Issue, dispatch_uid="rollup-test-after")
    signals.post_delete.connect(after, sender=Issue, dispatch_uid="rollup-test-delete")
    signals.post_save.connect(event_saved, sender=IssueEvent, dispatch_uid="rollup-test-event")
    try:
        yield
    finally:
        signals.pre_save.disconnect(sender=Issue, dispatch_uid="rollup-test-before")
        signals.post_save.disconnect(sender=Issue, dispatch_uid="rollup-test-after")
        signals.post_delete.disconnect(sender=Issue, dispatch_uid="rollup-test-delete")
        signals.post_save.disconnect(sender=IssueEvent, dispatch_uid="rollup-test-event")
