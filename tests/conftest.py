import pytest

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
