"""The page shell — the head's links, the top bar and the main menu — drawn once per key.

`{% shell_head %}` and `{% shell_top %}` (templates/base.html) draw includes/shell_head.html and
includes/shell_top.html through `civicapp.frames`: once per language, role, abilities, staff
flag and section of the site (which menu entry is the current page), then per request only the
user's name and id, the unread count, the CSRF token and the path are written in. What the
templates read is exactly the key below and the slots; add to both together.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from civicapp.frames import Frame
from districts import policy
from issues.context_processors import UNREAD_COUNT_CAP, unread_notification_count

register = template.Library()

# The main menu's entries by the view they lead to; `section` marks the current one.
SECTIONS_BY_VIEW = {
    "home": "home",
    "issues:issue_report": "report",
    "issues:issue_list": "list",
    "issues:notification_list": "notifications",
}
SECTIONS_BY_APP = {"stats": "stats", "rounds": "rounds"}

HEAD_KEY = ("authenticated", "can", "offline_self")
TOP_KEY = ("authenticated", "can", "role", "staff", "section")


def _context_of(names: tuple[str, ...]):
    def context_of(key: tuple) -> dict[str, Any]:
        context = dict(zip(names, key, strict=True))
        context["can"] = dict(context["can"])
        return context

    return context_of


HEAD = Frame("includes/shell_head.html", ("user_pk",), _context_of(HEAD_KEY))
TOP = Frame(
    "includes/shell_top.html",
    ("user_name", "bell_count", "nav_count", "csrf_input", "next_path"),
    _context_of(TOP_KEY),
)


def _user(context: template.Context) -> Any:
    user = context.get("user")
    return user if user is not None and user.is_authenticated else None


def _abilities(context: template.Context) -> tuple[tuple[str, bool], ...]:
    return tuple(sorted((context.get("can") or {}).items()))


def _section(request: Any) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    return SECTIONS_BY_VIEW.get(match.view_name) or SECTIONS_BY_APP.get(match.app_name)


@register.simple_tag(takes_context=True)
def shell_head(context: template.Context) -> SafeString:
    user = _user(context)
    request = context.get("request")
    offline_self = bool(getattr(request, "offline_cacheable", False))
    key = (user is not None, _abilities(context), offline_self)
    return HEAD.render(key, {"user_pk": user.pk if user is not None else ""})


@register.simple_tag(takes_context=True)
def shell_top(context: template.Context) -> SafeString:
    user = _user(context)
    request = context.get("request")
    key = (
        user is not None,
        _abilities(context),
        policy.role_of(user) if user is not None else None,
        bool(user is not None and user.is_staff),
        _section(request),
    )
    unread = unread_notification_count(user) if user is not None else 0
    return TOP.render(
        key,
        {
            "user_name": (user.get_full_name() or user.get_username()) if user else "",
            "bell_count": _bell_count(unread),
            "nav_count": _nav_count(unread),
            "csrf_input": _csrf_input(context),
            "next_path": request.get_full_path() if request is not None else "",
        },
    )


def _shown_count(unread: int) -> str:
    return "99+" if unread >= UNREAD_COUNT_CAP else str(unread)


def _bell_count(unread: int) -> SafeString:
    if not unread:
        return SafeString("")
    label = ngettext("%(counter)s unread", "%(counter)s unread", unread) % {"counter": unread}
    return format_html(
        '<span class="bell-count" aria-hidden="true">{}</span>\n'
        '          <span class="visually-hidden">{}</span>',
        _shown_count(unread),
        label,
    )


def _nav_count(unread: int) -> SafeString:
    if not unread:
        return SafeString("")
    return format_html('<span class="nav-count" aria-hidden="true">{}</span>', _shown_count(unread))


def _csrf_input(context: template.Context) -> SafeString:
    """What `{% csrf_token %}` writes."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":  # noqa: S105 - Django's word for "no request"
        return SafeString("")
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
