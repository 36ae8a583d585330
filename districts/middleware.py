"""Per-user interface language (kept on the staff membership), and the login device cookie."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from districts import throttle


class UserLanguageMiddleware:
    """Activates the signed-in user's saved language, over the browser's and the cookie's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = ""
        if user is not None and user.is_authenticated:
            membership = getattr(user, "membership", None)
            language = getattr(membership, "language", "")
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language:
            response.setdefault("Content-Language", language)
        return response


class LoginDeviceCookieMiddleware:
    """Gives a browser the device cookie its successful login earned (districts.throttle).

    Both login forms (the site's and the Django admin's) only see the request, so the form
    leaves the cookie on it and this puts it on whatever response the login view returns.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        throttle.set_pending_device_cookie(request, response)
        return response
