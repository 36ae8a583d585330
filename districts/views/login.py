"""Logging in, with failed attempts throttled per username and network address."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

# Ten wrong passwords within fifteen minutes lock that username from that address for the rest
# of the window: enough for a person who mistypes, far too few to guess a password.
LOGIN_FAILURE_LIMIT = 10
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60


def login_throttle_key(username: str, request: HttpRequest | None) -> str:
    """The cache key counting failures of one username from one address (hashed: no PII)."""
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    raw = f"{username.strip().casefold()}\n{address}"
    return "login-failures:" + hashlib.sha256(raw.encode()).hexdigest()


def _record_failure(key: str) -> None:
    # add() starts the window only on the first failure; incr() keeps the key's expiry.
    if cache.add(key, 1, LOGIN_FAILURE_WINDOW_SECONDS):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, LOGIN_FAILURE_WINDOW_SECONDS)


THROTTLED_MESSAGE = _(
    "Too many failed attempts to log in with this username. Wait 15 minutes and try again, "
    "or ask the zone office (admin) to reset your password."
)


class LoginThrottleMixin:
    """Refuses to even check a password after too many failures; a success clears the count."""

    def clean(self) -> dict[str, Any]:
        key = login_throttle_key(self.cleaned_data.get("username") or "", self.request)
        if (cache.get(key) or 0) >= LOGIN_FAILURE_LIMIT:
            raise ValidationError(THROTTLED_MESSAGE, code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            _record_failure(key)
            raise
        cache.delete(key)
        return cleaned


class ThrottledAuthenticationForm(LoginThrottleMixin, AuthenticationForm):
    """The site's login form."""


class ThrottledAdminAuthenticationForm(LoginThrottleMixin, AdminAuthenticationForm):
    """The Django admin's login form, under the same throttle as the site's."""


login_view = LoginView.as_view(authentication_form=ThrottledAuthenticationForm)
