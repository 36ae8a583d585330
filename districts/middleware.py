"""The signed-in user on the request, their interface language (kept on the staff
membership), and the login device cookie."""

from collections.abc import Callable

from django.contrib.auth.middleware import get_user
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from districts import throttle


class ResolvedUserMiddleware:
    """Puts the user itself on the request, in place of the lazy stand-in Django leaves there.

    Every page reads the user (the language below, the shell's name and menu), so loading it
    late saves nothing, while every attribute read through the stand-in is a proxy call: the
    verification queue asked the policy about its sixty cases six hundred times a request
    (`benchmark_pages --profile "verify queue"`). The same object, read once from the session
    as Django would (`get_user` keeps it on the request); `login()` and `logout()` replace it
    as before.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user = get_user(request)
        return self.get_response(request)


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
