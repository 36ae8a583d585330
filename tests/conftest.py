import pytest
from django.db.models import signals

from tests.factories import World, build_world


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: what one test's rows put there (reference tables,
    `districts.reference`) must not answer for another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(db) -> World:
    """The shared personas (see tests.factories.World)."""
    return build_world()


@pytest.fixture(autouse=True)
def open_stock_follows_the_factories():
    """Keep the home pages' counters (`issues.stock`) in step with cases the factories write.

    The services keep them themselves (`issues.services.core.CHANGE_HOOKS`); factories write
    straight to the database, so here each saved or deleted case, event and extension request
    recounts the units that count its case, before and after, as a service would. The test
    database has no mark until a test rebuilds, so every passed deadline is read from the cases
    and a deadline moved by `update()` shows too. `tests/issues/test_open_stock.py` turns this
    off to prove the services alone suffice.
    """
    from issues import stock
    from issues.models import ExtensionRequest, Issue, IssueEvent

    def before(sender, instance, **kwargs):
        if instance.pk:
            instance._stock_test_before = (
                Issue.objects.filter(pk=instance.pk)
                .values("district_id", "assigned_organisation_id", "closed_at")
                .first()
            )

    def after(sender, instance, **kwargs):
        keys = stock.keys_of(getattr(instance, "_stock_test_before", None))
        keys |= stock.keys_of(
            {
                "district_id": instance.district_id,
                "assigned_organisation_id": instance.assigned_organisation_id,
                "closed_at": instance.closed_at,
            }
        )
        stock.recompute(keys)

    def side_row(sender, instance, **kwargs):
        stock.issues_changed([instance.issue_id])

    uid = "open-stock-test"
    signals.pre_save.connect(before, sender=Issue, dispatch_uid=f"{uid}-before")
    signals.post_save.connect(after, sender=Issue, dispatch_uid=f"{uid}-after")
    signals.post_delete.connect(after, sender=Issue, dispatch_uid=f"{uid}-delete")
    for model in (IssueEvent, ExtensionRequest):
        signals.post_save.connect(side_row, sender=model, dispatch_uid=f"{uid}-{model.__name__}")
        signals.post_delete.connect(
            side_row, sender=model, dispatch_uid=f"{uid}-{model.__name__}-d"
        )
    try:
        yield
    finally:
        signals.pre_save.disconnect(sender=Issue, dispatch_uid=f"{uid}-before")
        signals.post_save.disconnect(sender=Issue, dispatch_uid=f"{uid}-after")
        signals.post_delete.disconnect(sender=Issue, dispatch_uid=f"{uid}-delete")
        for model in (IssueEvent, ExtensionRequest):
            signals.post_save.disconnect(sender=model, dispatch_uid=f"{uid}-{model.__name__}")
            signals.post_delete.disconnect(sender=model, dispatch_uid=f"{uid}-{model.__name__}-d")


# Test groups: a test belongs to a group when its file or its name names the group, so the name
# and the marker agree and `pytest -m GROUP` runs one group (markers are registered in pyproject).
# A group may be named by other words too (`import`/`export` are the importexport group).
MARKER_WORDS: dict[str, tuple[str, ...]] = {
    "scope": ("scope",),
    "structure": ("structure",),
    "throttle": ("throttle",),
    "webhook": ("webhook",),
    "calendar": ("calendar",),
    "deadline": ("deadline",),
    "upload": ("upload",),
    "reminder": ("reminder",),
    "escalation": ("escalation",),
    "redis_down": ("redis_down",),
    "worker_kill": ("worker_kill",),
    "responsibility": ("responsibility",),
    "routing": ("routing",),
    "coverage": ("coverage",),
    "demo": ("demo",),
    "i18n": ("i18n",),
    "policy": ("policy",),
    "matrix": ("matrix",),
    "security": ("security",),
    "input": ("input", "fuzz", "hardening/"),
    "fieldwalk": ("fieldwalk", "every_field"),
    "words": ("words", "wording", "i18n"),
    "transition": ("transition",),
    "permission": ("permission",),
    "concurrent": ("concurren",),
    "photo": ("photo",),
    "importexport": ("import", "export"),
    "browser": ("browser/",),
    "kpi": ("kpi",),
    "dashboard": ("dashboard",),
    "ranking": ("ranking",),
    "ledger": ("ledger",),
    "notice": ("notice",),
    "round": ("round",),
    "visit": ("visit",),
    "standard": ("standard",),
    "score": ("score",),
    "fast": ("fast",),
    "budget": ("budget",),
    "picker": ("picker",),
    "weight": ("weight",),
    "offline": ("offline",),
    "outbox": ("outbox",),
    "sync": ("sync",),
    "pwa": ("pwa",),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        where = item.nodeid.lower()
        for marker, words in MARKER_WORDS.items():
            if any(word in where for word in words):
                item.add_marker(getattr(pytest.mark, marker))
