"""The gate of the admin tools: `districts.policy.is_zone_admin`, applied to a view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from districts.policy import is_zone_admin


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send anonymous users to log in; refuse (403) everyone who is not a zone admin."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_zone_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def is_htmx(request: HttpRequest) -> bool:
    """A request htmx made to swap a fragment (the page works the same without it)."""
    return request.headers.get("HX-Request") == "true"
