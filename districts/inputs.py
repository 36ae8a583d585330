"""Reading ids and words from a query string or form without ever raising on what people type.

`str.isdigit()` accepts superscript and other Unicode digits that `int()` refuses, and PostgreSQL
refuses a NUL in any text: every view reads raw parameters through these instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ID = re.compile(r"[0-9]{1,18}")
# Control characters other than tab, line feed and carriage return never belong in text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_id(value: str | None) -> int | None:
    """The positive database id that the text spells in ASCII digits, or None."""
    if value is None or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if number > 0 else None


def parse_ids(values: Iterable[str]) -> list[int]:
    """The distinct valid ids among the texts, in their first order."""
    found: list[int] = []
    for value in values:
        number = parse_id(value)
        if number is not None and number not in found:
            found.append(number)
    return found


def clean_text(value: str | None, *, max_length: int = 200) -> str:
    """The text without control characters (NUL above all), trimmed and cut to length."""
    return _CONTROL.sub("", value or "").strip()[:max_length]


# A picker's label ends with the chosen object's code in brackets: "新城街道办事处 [org-x]".
_PICKED_CODE = re.compile(r"\[([^\[\]]{1,60})\]\s*$")


def picked_code(text: str) -> str | None:
    """The code at the end of a picker's label ("name [code]"), or None for any other text."""
    match = _PICKED_CODE.search(text)
    return match.group(1).strip() if match else None
