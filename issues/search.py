"""The issue list's text search: the SQL of `IssueQuerySet.search`, written once.

Text matches as people type it: the start of a case number or its tail (`40`, `000040` find
2026-000040), the description or address, and the names of categories, inspection points and
communities. Names are looked up first in one small query over the reference tables (capped),
so the issue query reads the issue indexes on category, point and community by id.

On PostgreSQL the trigram index `issue_search_trgm_idx` serves the conditions Django writes for
`__startswith` and `__icontains` on three characters or more; pg_trgm finds nothing in two
characters, the length of most Chinese words people search for (垃圾, 井盖, 路灯), so those use
the index of character pairs `issue_search_pairs_idx` (both in migration 0004). SQLite scans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections
from django.db.models import BooleanField, CharField, F, Func, Q, TextField, Value
from django.db.models.functions import Upper

from districts.models import Category, Community, InspectionPoint

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


# A text that names more places or categories than this is too vague to widen the search.
NAME_MATCH_LIMIT = 50
# Case numbers are "<year>-<six digits>"; a run of up to six digits is read as the tail.
CASE_DIGITS = 6


def _case_tail(text: str) -> Q:
    if text.isascii() and text.isdigit() and len(text) <= CASE_DIGITS:
        return Q(case_number__endswith="-" + text.zfill(CASE_DIGITS))
    return Q(pk__in=[])


def _named(text: str, db: str) -> list[Q]:
    """Issues whose category, point or community name contains the text: one query for the ids
    (each kind capped; three on SQLite, which cannot LIMIT inside a UNION), then one condition
    per kind found, on ids the issue indexes serve."""
    kind = CharField()
    # The small tables are scanned; folding the case of 5 000 point names cost two thirds of
    # the scan (0.8 of 1.3 ms), and a text with no cased letter (Chinese) matches the same.
    lookup = "name__contains" if text.upper() == text.lower() else "name__icontains"
    parts = [
        model.objects.filter(**{lookup: text})
        .order_by()
        .annotate(match_kind=Value(label, output_field=kind))
        .values_list("match_kind", "pk")[:NAME_MATCH_LIMIT]
        for label, model in (
            ("category", Category),
            ("point", InspectionPoint),
            ("community", Community),
        )
    ]
    ids: dict[str, list[int]] = {"category": [], "point": [], "community": []}
    if connections[db].features.supports_slicing_ordering_in_compound:
        rows = list(parts[0].union(*parts[1:], all=True))
    else:
        rows = [row for part in parts for row in part]
    for label, pk in rows:
        ids[label].append(pk)
    return [Q(**{f"{label}_id__in": sorted(found)}) for label, found in ids.items() if found]


def conditions(text: str, db: str) -> list[Q]:
    """The search as alternatives: issues match when they meet any one of them (see the module
    docstring); none for blank text.

    Each alternative is served by one index in the list's order (a name by the category, point
    or community index, the text by the issue's own), so the list reads each one's first rows
    on its own and merges them (`issues.paging`), instead of OR-ing them into one condition
    that only a bitmap of every match can serve: a word that names a whole category matched
    thousands of rows that way, all read and sorted to show twenty.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) == 2 and " " not in text and connections[db].vendor == "postgresql":
        # The pair stands in the description or the address exactly when either contains the
        # text (the space joining them never forms a pair with text that has no space), so
        # the pairs index alone is the test. Written beside `__icontains` as well, PostgreSQL
        # took the two as independent, guessed a hundredth of the matches and read a bitmap of
        # all of them instead of the list's index in order.
        in_text = Q(case_number__startswith=text) | Q(_description_or_address_holds_pair(text))
    else:
        in_text = (
            Q(case_number__startswith=text)
            | Q(description__icontains=text)
            | Q(address__icontains=text)
        )
    return [in_text | _case_tail(text), *_named(text, db)]


def any_of(alternatives: list[Q]) -> Q:
    combined = Q(pk__in=[])
    for alternative in alternatives:
        combined |= alternative
    return combined


def apply(queryset: IssueQuerySet, text: str) -> IssueQuerySet:
    """Issues matching the text (see the module docstring); blank text leaves the queryset."""
    alternatives = conditions(text, queryset.db)
    if not alternatives:
        return queryset
    return queryset.filter(any_of(alternatives))
