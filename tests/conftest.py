import pytest

from tests.factories import World, build_world


@pytest.fixture
def world(db) -> World:
    """The shared personas (see tests.factories.World)."""
    return build_world()
