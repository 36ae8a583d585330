"""Cross-cutting HTTP middleware (no domain code)."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """Adds the strict Content-Security-Policy header; pages carry no inline scripts or styles."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class RequestBodyLimitMiddleware:
    """Answers 413 to a request whose declared body exceeds `REQUEST_BODY_MAX_BYTES`.

    It runs before any view, and before CsrfViewMiddleware.process_view, which would otherwise
    parse the whole multipart body (spooling files to disk) just to find the CSRF token. Django
    reads no more than CONTENT_LENGTH bytes, so the declared length is what counts.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.REQUEST_BODY_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit and length > limit:
            return self.too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def too_large(request: HttpRequest, limit: int) -> HttpResponse:
        megabytes = max(limit // (1024 * 1024), 1)
        message = _(
            "What you sent is larger than %(size)d MB at once. Send fewer or smaller photos, "
            "or a smaller file."
        ) % {"size": megabytes}
        if "application/json" in request.headers.get("Accept", ""):
            # The report page's script shows form errors from this shape.
            return JsonResponse(
                {"ok": False, "errors": {"__all__": [{"message": message, "code": "too_large"}]}},
                status=413,
            )
        return render(request, "413.html", {"message": message}, status=413)


def _is_lock_contention(error: Exception) -> bool:
    message = str(error).lower()
    return "database is locked" in message or "database table is locked" in message


class DatabaseBusyMiddleware:
    """Answers 503 (try again) when SQLite stays locked longer than its busy timeout.

    With WAL, immediate transactions and a busy timeout (settings) writers queue instead of
    failing; this is the last resort for a lock held longer than the timeout, so the person sees
    "busy, send again" (the report form's token makes a resend file once) rather than a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (isinstance(exception, OperationalError) and _is_lock_contention(exception)):
            return None
        logger.warning("Database busy, answered 503: %s %s", request.method, request.path)
        message = _("The system is busy saving other people's work. Wait a moment and send again.")
        if "application/json" in request.headers.get("Accept", ""):
            response: HttpResponse = JsonResponse(
                {"ok": False, "errors": {"__all__": [{"message": message, "code": "busy"}]}},
                status=503,
            )
        else:
            response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = "5"
        return response
