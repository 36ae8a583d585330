"""Form widgets every app's forms share."""

from __future__ import annotations

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker, reading and writing ISO dates."""

    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")
