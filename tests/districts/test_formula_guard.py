"""One spreadsheet formula guard for every export: the zone data and the issue ledger agree."""

from __future__ import annotations

import pytest

from districts.importexport import exporting
from districts.importexport.specs import formula_safe
from issues import exports


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1"])
def test_export_guard_quotes_every_formula_start(text):
    assert formula_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", "1=1", 12, None])
def test_export_guard_leaves_other_values(value):
    assert formula_safe(value) == value


def test_export_guard_is_the_same_function_in_both_exports():
    # No second copy that could disagree again (one handled tab, CR and LF, the other not).
    assert exports.formula_safe is formula_safe
    assert exporting.formula_safe is formula_safe
