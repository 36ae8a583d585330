"""Fragments drawn once per key and filled in per request.

The page shell (the head's links, the top bar, the main menu) is the same for everyone of one
role, in one language, on one section of the site, but for a few values: the user's name and
id, the unread count, the CSRF token, the path to come back to. As a template it ran some two
hundred nodes a request, about 2 ms of CPU: a tenth of the list page, a fifth of a home page. A
`Frame` renders such a template once per key with a marker in place of each of those values,
keeps it split at the markers, and joins the pieces with each request's values.

A frame's template sees only its key's context and the markers, never the page's context: a
value it reads that is not in the key shows as empty at once instead of leaking one user's page
into another's. Every frame is forgotten when a setting changes (tests override languages,
cookie names, …) and when it holds `MAX_KEYS` keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from django.core.signals import setting_changed
from django.template.loader import get_template
from django.urls import get_script_prefix
from django.utils import translation
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

# A character no text of the shell holds (Unicode private use), around a slot's name.
_MARK = "\ue000"
T = TypeVar("T")
_SLOT = re.compile(f"{_MARK}(\\w+){_MARK}")
MAX_KEYS = 512

_frames: list[Frame | Drawn] = []


class Frame:
    """A template drawn once per key, with `slots` filled per request.

    `context_of(key)` is the whole context the template is drawn with (the key's values as the
    template reads them); each slot is a variable of the template whose value is a marker.
    """

    def __init__(
        self,
        template_name: str,
        slots: tuple[str, ...],
        context_of: Callable[[tuple], dict[str, Any]],
    ) -> None:
        self.template_name = template_name
        self.slots = slots
        self.context_of = context_of
        self._drawn: dict[tuple, tuple[list[str], list[str]]] = {}
        _frames.append(self)

    def render(self, key: tuple[Hashable, ...], values: Mapping[str, object]) -> SafeString:
        """The template for `key` (in the active language) with `values` in its slots; each
        value is escaped unless it is already safe."""
        full_key = (translation.get_language(), get_script_prefix(), *key)
        drawn = self._drawn.get(full_key)
        if drawn is None:
            drawn = self._draw(key)
            if len(self._drawn) >= MAX_KEYS:
                self._drawn.clear()
            self._drawn[full_key] = drawn
        texts, names = drawn
        parts = [texts[0]]
        for name, text in zip(names, texts[1:], strict=True):
            parts.append(conditional_escape(values[name]))
            parts.append(text)
        return mark_safe("".join(parts))  # noqa: S308 - the template's output and escaped values

    def _draw(self, key: tuple) -> tuple[list[str], list[str]]:
        context = self.context_of(key)
        # A marker holds a slot's name only; the value that replaces it is escaped.
        markers = {name: mark_safe(f"{_MARK}{name}{_MARK}") for name in self.slots}  # noqa: S308
        context.update(markers)
        pieces = _SLOT.split(get_template(self.template_name).render(context))
        # split() alternates text and slot names: text, name, text, …, text.
        return pieces[0::2], pieces[1::2]

    def forget(self) -> None:
        self._drawn.clear()


class Drawn(Generic[T]):
    """Fragments written in Python, kept per key in the active language.

    For markup drawn from values read afresh on every request (a reference table's rows from
    the cache, the report form's category tiles): the key is those values themselves, compared
    by value, so a changed name or flag is a new key, drawn on the next request, and nothing
    has to be forgotten when the data changes. The key must hold everything the fragment
    shows but the language. Forgotten as the frames are (settings, `MAX_KEYS`).
    """

    def __init__(self) -> None:
        self._drawn: dict[tuple, T] = {}
        _frames.append(self)

    def get(self, key: tuple[Hashable, ...], draw: Callable[[], T]) -> T:
        full_key = (translation.get_language(), *key)
        drawn = self._drawn.get(full_key)
        if drawn is None:
            if len(self._drawn) >= MAX_KEYS:
                self._drawn.clear()
            drawn = self._drawn[full_key] = draw()
        return drawn

    def forget(self) -> None:
        self._drawn.clear()


def _forget_all(**_kwargs: object) -> None:
    for frame in _frames:
        frame.forget()


setting_changed.connect(_forget_all)
