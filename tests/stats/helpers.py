"""Helpers of the stats tests: how many cases the issue list shows for a dashboard link."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import QueryDict
from django.test import RequestFactory
from django.urls import resolve

from issues.filters import IssueFilterSet
from issues.models import Issue


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
