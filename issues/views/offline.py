"""The installable, offline-first shell of the field pages: service worker, manifest, data.

The service worker (static/js/sw.js) caches only responses that name their user in the
`X-Civic-Offline-User` header (the `offline_cacheable` pages and the reference data), and
serves a cached copy only to that same user; it drops them all when another user signs in or
on logout. Nothing here writes domain state: the outbox replays the ordinary form endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from districts import policy
from districts.models import Category
from issues.pickers import KINDS, label_of

OFFLINE_USER_HEADER = "X-Civic-Offline-User"
SERVICE_WORKER_FILE = "js/sw.js"
THEME_COLOUR = "#1f5fbf"


def offline_cacheable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a signed-in page the service worker may keep for offline use, for this user only."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Read by base.html: the page asks the worker to keep it when it came from the network
        # (a first visit while the worker was still installing).
        request.offline_cacheable = True  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)
        cacheable = request.method == "GET" and response.status_code == 200
        if cacheable and request.user.is_authenticated:
            response[OFFLINE_USER_HEADER] = str(request.user.pk)
            # Private to this browser and always revalidated: the worker decides what to keep.
            patch_cache_control(response, private=True, no_cache=True)
            patch_vary_headers(response, ["Cookie"])
        return response

    return wrapper


def _service_worker_source() -> bytes:
    found = finders.find(SERVICE_WORKER_FILE)
    if not found and settings.STATIC_ROOT:
        candidate = Path(settings.STATIC_ROOT) / SERVICE_WORKER_FILE
        found = str(candidate) if candidate.exists() else None
    if not found:
        raise Http404
    return Path(found).read_bytes()


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, from the site root so its scope is the whole site.

    It is a static file served here (not a template), so the strict CSP holds and its bytes
    change only with a release; browsers then install the new version and the page offers it.
    """
    response = HttpResponse(_service_worker_source(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    add_never_cache_headers(response)  # the browser must see a new release at once
    return response


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: installable on the home screen, opening the field pages."""
    data = {
        "id": "/",
        "name": _("Civilised city campaign: problems found, fixed, verified"),
        "short_name": _("Civic patrol"),
        "description": _("Report, fix and verify street problems, also without signal."),
        "lang": "zh-Hans",
        "start_url": reverse("home") + "?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOUR,
        "background_color": "#ffffff",
        "icons": [
            {"src": static("img/icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": static("img/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("img/icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [{"name": _("Report a problem"), "url": reverse("issues:issue_report")}],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json; charset=utf-8"
    return response


@require_GET
def offline_fallback(request: HttpRequest) -> HttpResponse:
    """What the worker shows for a page that needs the network: no user data, so one copy."""
    return render(request, "offline/fallback.html")


@require_GET
def session_state(request: HttpRequest) -> JsonResponse:
    """Who is signed in and a fresh CSRF token, asked by the outbox before it sends anything.

    The outbox sends only the items its own user captured, so a second person signing in on a
    shared phone never sends the first one's work under their own name.
    """
    user = request.user
    response = JsonResponse(
        {
            "user": user.pk if user.is_authenticated else None,
            "csrf_token": get_token(request) if user.is_authenticated else "",
        }
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_GET
@offline_cacheable
def reference_data(request: HttpRequest) -> JsonResponse:
    """What the phone needs to capture work with no signal, inside the user's scope only.

    Active categories with their quick phrases and usual severity, and the active inspection
    points the user may report at, with coordinates for the nearest-point list the phone
    computes itself when offline. Three queries whatever the size.
    """
    user = request.user
    points = (
        policy.reporting_points(user)
        .select_related("community")
        .order_by("community__district__sort_order", "community__code", "name")
    )
    data = {
        "user": user.pk,
        "categories": [
            {
                "id": category.pk,
                "name": category.name,
                "severity": category.severity,
                "quick_phrases": category.quick_phrase_list,
            }
            for category in Category.objects.filter(is_active=True)
        ],
        "points": [
            {
                "id": point.pk,
                "name": point.name,
                # What the report form's point picker shows and reads back ("name [code]").
                "label": label_of(point, KINDS["point"]),
                "community": point.community.display_name,
                "community_id": point.community_id,
                "lat": float(point.latitude) if point.latitude is not None else None,
                "lng": float(point.longitude) if point.longitude is not None else None,
            }
            for point in points
        ],
        "communities": [
            {"id": community.pk, "name": community.display_name}
            for community in policy.reporting_communities(user).order_by("code")
        ],
    }
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@login_required
@require_GET
@offline_cacheable
def outbox_page(request: HttpRequest) -> HttpResponse:
    """The "待发送" list: drawn by static/js/outbox-page.js from the phone's own storage."""
    return render(request, "offline/outbox.html")
