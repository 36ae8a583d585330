"""The issue list's text search: the SQL of `IssueQuerySet.search`, written once.

On PostgreSQL the trigram index `issue_search_trgm_idx` serves the conditions Django writes for
`__startswith` and `__icontains` on three characters or more; pg_trgm finds nothing in two
characters, the length of most Chinese words people search for (垃圾, 井盖, 路灯), so those use
the index of character pairs `issue_search_pairs_idx` (both in migration 0004). SQLite scans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections
from django.db.models import BooleanField, F, Func, Q, TextField, Value
from django.db.models.functions import Upper

if TYPE_CHECKING:
    from issues.models import IssueQuerySet


def _character_pairs(expression) -> Func:
    """PostgreSQL's `issue_character_pairs(UPPER(...))`: the adjacent character pairs of a text."""
    return Func(Upper(expression), function="issue_character_pairs", output_field=TextField())


def _description_or_address_holds_pair(text: str) -> Func:
    """PostgreSQL: the two characters of `text` stand side by side in the description or the
    address (the same test as `__icontains` for two characters without a space).

    The left side repeats, term for term, the expression of the index `issue_search_pairs_idx`
    (migration 0004); any other spelling of it would not use the index.
    """
    searchable = Func(
        F("description"),
        F("address"),
        template="(%(expressions)s)",
        arg_joiner=" || ' ' || ",
        output_field=TextField(),
    )
    return Func(
        _character_pairs(searchable),
        _character_pairs(Value(text)),
        template="%(expressions)s",
        arg_joiner=" @> ",
        output_field=BooleanField(),
    )


def apply(queryset: IssueQuerySet, text: str) -> IssueQuerySet:
    """Issues whose case number starts with the text, or whose description or address
    contains it; blank text leaves the queryset as it is."""
    text = text.strip()
    if not text:
        return queryset
    if len(text) == 2 and connections[queryset.db].vendor == "postgresql":
        # The space joining description and address never forms a pair with text that has
        # no space.
        return queryset.filter(
            Q(case_number__startswith=text)
            | Q(description__icontains=text)
            | Q(address__icontains=text),
            Q(case_number__startswith=text) | Q(_description_or_address_holds_pair(text)),
        )
    return queryset.filter(
        Q(case_number__startswith=text)
        | Q(description__icontains=text)
        | Q(address__icontains=text)
    )
