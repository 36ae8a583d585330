"""The small reference tables every filter form shows — districts, point types and
categories — read once per change instead of once per request.

The list's filter form offers every point type and every category of the zone: two queries
and a few dozen model instances a request, for tables that change a few times a year (in the
Django admin or by the taxonomy loader). `rows(table)` keeps each table's (id, name, English
name) in the cache, in the model's order; a signal forgets it after any save or delete is
committed, so every process reads the change on its next request. With Redis down the cache
answers as empty (`civicapp.cache`) and the table is read from the database, as before; the
entry also expires after `TIMEOUT_SECONDS`, for a change written around the ORM.

Districts are here whole: a form shows the user the rows of `policy.district_ids_in_scope`.
The other scoped tables (communities, points, organisations) are large, and pickers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from districts.models import BilingualNameMixin, Category, District, PointType

TABLES: dict[str, type[models.Model]] = {
    "district": District,
    "point_type": PointType,
    "category": Category,
}
KEY = "reference:v2:{}"  # the version of Row; change it with Row
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Row(BilingualNameMixin):
    """One row of a reference table, named as its model names it (`display_name`)."""

    id: int
    name: str
    name_en: str


def rows(table: str) -> tuple[Row, ...]:
    """Every row of a reference table, in the model's order."""
    key = KEY.format(table)
    found = cache.get(key)
    if found is None:
        model = TABLES[table]
        found = tuple(
            Row(*values)
            for values in model._default_manager.order_by(*model._meta.ordering).values_list(
                "id", "name", "name_en"
            )
        )
        cache.set(key, found, TIMEOUT_SECONDS)
    return found


def forget(table: str) -> None:
    cache.delete(KEY.format(table))


def _forget_on_commit(sender: type[models.Model], **kwargs) -> None:
    # Now, and again once committed: a request that read the table before the commit may
    # have stored the old rows in between.
    for table, model in TABLES.items():
        if sender is model:
            forget(table)
            transaction.on_commit(lambda table=table: forget(table))


def connect_signals() -> None:
    for model in TABLES.values():
        post_save.connect(_forget_on_commit, sender=model, dispatch_uid=f"reference-{model}")
        post_delete.connect(_forget_on_commit, sender=model, dispatch_uid=f"reference-del-{model}")
