"""Logging in, under the login throttle (districts.throttle) on the site's and the admin's form."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from districts import throttle

# One message for every refusal, whichever pool refused and whether or not the user exists.
THROTTLED_MESSAGE = _(
    "Too many failed attempts to log in. Wait %(minutes)d minutes and try again, or log in on "
    "a phone or computer you have logged in on before."
)


class LoginThrottleMixin:
    """Refuses to even check a password once a pool of the attempt has used its allowance."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()  # a field is missing: no password is checked, nothing counts
        attempt = throttle.login_attempt(self.request, username)
        if throttle.is_refused(attempt):
            raise ValidationError(
                THROTTLED_MESSAGE, code="throttled", params={"minutes": throttle.window_minutes()}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.record_failure(attempt)
            raise
        throttle.record_success(attempt, self.request)
        return cleaned


class ThrottledAuthenticationForm(LoginThrottleMixin, AuthenticationForm):
    """The site's login form."""


class ThrottledAdminAuthenticationForm(LoginThrottleMixin, AdminAuthenticationForm):
    """The Django admin's login form, under the same throttle as the site's."""


login_view = LoginView.as_view(authentication_form=ThrottledAuthenticationForm)
