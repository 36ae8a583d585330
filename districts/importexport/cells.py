"""Typed reading of one record's cells that collects every bad cell instead of stopping."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models
from django.utils.translation import gettext as _

from districts.importexport.plan import RowError


class _CellError(Exception):
    pass


_YES = {"yes", "y", "true", "1", "是", "有效", "启用"}
_NO = {"no", "n", "false", "0", "否", "无效", "停用"}


class RowReader:
    """Typed access to one record's cells; collects every bad cell instead of stopping."""

    def __init__(self, kind: str, number: int, cells: dict[str, str], errors: list[RowError]):
        self.kind = kind
        self.number = number
        self.cells = cells
        self.errors = errors
        self.failed = False

    def has(self, column: str) -> bool:
        return column in self.cells

    def raw(self, column: str) -> str:
        return self.cells.get(column, "")

    def error(self, column: str, message: str) -> None:
        self.failed = True
        self.errors.append(RowError(self.kind, self.number, column, message))

    def _read(self, column: str, parse: Any) -> Any:
        try:
            return parse(self.raw(column))
        except _CellError as error:
            self.error(column, str(error))
            return None

    def text(self, column: str, *, max_length: int, required: bool = False) -> str:
        def parse(value: str) -> str:
            if required and not value:
                raise _CellError(_("This column is required."))
            if len(value) > max_length:
                raise _CellError(
                    _("At most %(count)s characters (this has %(length)s).")
                    % {"count": max_length, "length": len(value)}
                )
            return value

        return self._read(column, parse) or ""

    def code(self, column: str, *, max_length: int, required: bool = True) -> str:
        def parse(value: str) -> str:
            if not value:
                if required:
                    raise _CellError(_("This column is required."))
                return ""
            try:
                validate_slug(value)
            except ValidationError as error:
                raise _CellError(
                    _("A code may contain only letters, digits, hyphens and underscores.")
                ) from error
            if len(value) > max_length:
                raise _CellError(
                    _("At most %(count)s characters (this has %(length)s).")
                    % {"count": max_length, "length": len(value)}
                )
            return value

        return self._read(column, parse) or ""

    def integer(self, column: str) -> int | None:
        def parse(value: str) -> int | None:
            if not value:
                return None
            try:
                number = Decimal(value.replace(",", ""))
            except InvalidOperation as error:
                raise _CellError(_("Enter a whole number.")) from error
            if number != number.to_integral_value() or number < 0 or number > 2_147_483_647:
                raise _CellError(_("Enter a whole number that is zero or more."))
            return int(number)

        return self._read(column, parse)

    def coordinate(self, column: str, *, limit: int, required: bool) -> Decimal | None:
        def parse(value: str) -> Decimal | None:
            if not value:
                if required:
                    raise _CellError(_("This column is required."))
                return None
            try:
                number = Decimal(value)
            except InvalidOperation as error:
                raise _CellError(_("Enter a number in decimal degrees, e.g. 43.65.")) from error
            if not number.is_finite() or not -limit <= number <= limit:
                raise _CellError(_("Must be between -%(limit)s and %(limit)s.") % {"limit": limit})
            return number.quantize(Decimal("0.000001"))

        return self._read(column, parse)

    def boolean(self, column: str, *, default: bool) -> bool:
        def parse(value: str) -> bool:
            if not value:
                return default
            if value.lower() in _YES:
                return True
            if value.lower() in _NO:
                return False
            raise _CellError(_("Enter yes or no."))

        result = self._read(column, parse)
        return default if result is None else result

    def choice(self, column: str, choices: type[models.TextChoices], *, default: str | None) -> str:
        def parse(value: str) -> str:
            if not value:
                if default is None:
                    raise _CellError(_("This column is required."))
                return default
            lowered = value.lower()
            if lowered in choices.values:
                return lowered
            for choice_value, label in choices.choices:
                if value in (str(label), choice_value):
                    return choice_value
            raise _CellError(
                _("Unknown value %(value)s; use one of: %(choices)s.")
                % {"value": value, "choices": ", ".join(choices.values)}
            )

        return self._read(column, parse) or (default or "")

    def date(self, column: str) -> datetime.date | None:
        def parse(value: str) -> datetime.date:
            if not value:
                raise _CellError(_("This column is required."))
            try:
                return datetime.date.fromisoformat(value[:10].replace("/", "-"))
            except ValueError as error:
                raise _CellError(_("Enter a date as YYYY-MM-DD.")) from error

        return self._read(column, parse)
