"""The stats tests read the KPI rollup: keep it for the cases their factories write (a module
that sets ROLLUP_FROM_SERVICES_ONLY proves the services keep it, and goes without)."""

from __future__ import annotations

import contextlib

import pytest

from tests.stats.helpers import rollup_follows_the_factories


@pytest.fixture(autouse=True)
def _rollup_follows_the_factories(request):
    services_only = getattr(request.module, "ROLLUP_FROM_SERVICES_ONLY", False)
    with contextlib.nullcontext() if services_only else rollup_follows_the_factories():
        yield
