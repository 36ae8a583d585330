"""The matrix's cells, written in Python (`districts/templatetags/matrix_cells.py`), write the
markup of the include they replaced, kept as the reference (`reference/matrix_cell.html`):
every kind of cell, with and without a form, bound with errors, in both languages."""

from __future__ import annotations

import datetime
import pathlib

import pytest
from django.template import Context, Template
from django.utils import translation

from districts.forms import AssignmentForm
from districts.matrix import build_matrix
from districts.models import Category, OwnerKind, Responsibility
from tests.factories import (
    CategoryFactory,
    DistrictFactory,
    InspectionPointFactory,
    OrganisationFactory,
    ResponsibilityFactory,
)

# `templates/districts/includes/matrix_cell.html` as it was before `{% matrix_cell %}`.
INCLUDE = (pathlib.Path(__file__).parent / "reference" / "matrix_cell.html").read_text()

TAG = (
    "{% load matrix_cells %}"
    "{% matrix_cell cell form=form saved_message=saved_message open_form=open_form %}"
)
TODAY = datetime.date(2026, 3, 1)


def _cells(world) -> dict:
    """A district cell with current (lead, phone, end) and scheduled owners, an inherited
    territorial cell, a gap, a zone-wide sector owner and the district's inherited one; names
    with characters to escape."""
    odd = OrganisationFactory(code="odd", name='Org & <Co> "q"', name_en="Odd & <Co>")
    row = Responsibility.objects.get(district=world.district_a, kind=OwnerKind.TERRITORIAL)
    row.lead_person = '张 <主任> & "co"'
    row.lead_phone = "139'0000"
    row.valid_to = TODAY + datetime.timedelta(days=40)
    row.save()
    ResponsibilityFactory(
        kind=OwnerKind.TERRITORIAL,
        organisation=odd,
        district=world.district_a,
        valid_from=TODAY + datetime.timedelta(days=40),
        lead_phone="110",
    )
    sector = CategoryFactory(
        name="占道经营 <x>", name_en="Street <vending> & co", owner_kind=OwnerKind.SECTOR
    )
    ResponsibilityFactory(
        kind=OwnerKind.SECTOR, organisation=odd, category=sector, lead_person="李"
    )
    matrix = build_matrix(world.district_a, TODAY)
    community = next(r for r in matrix.communities if r.community == world.community_a)
    zone_row = next(r for r in matrix.sectors if r.category == sector)
    assert matrix.district_cell.current and matrix.district_cell.scheduled
    assert community.territorial.inherited and community.paired.is_gap
    assert zone_row.zone.current and zone_row.district.inherited
    return {
        "current and scheduled": matrix.district_cell,
        "inherited": community.territorial,
        "gap": community.paired,
        "sector zone-wide": zone_row.zone,
        "sector inherited": zone_row.district,
    }


def _forms() -> dict:
    bad = AssignmentForm(
        data={
            "organisation": "nope <x>",
            "lead_person": "a&b",
            "lead_phone": "9" * 40,
            "valid_from": "",
            "correction_reason": '"r"',
        }
    )
    wrong_day = AssignmentForm(data={"organisation": "org-y", "valid_from": "not a day"})
    whole_form = AssignmentForm(data={"organisation": "org-y", "valid_from": "2026-03-02"})
    whole_form.is_valid()
    whole_form.add_error(None, "The whole form <is> wrong.")
    return {
        "no form": {},
        "unbound, open": {"form": AssignmentForm(), "open_form": True},
        "bound with errors": {"form": bad},
        "bound, a wrong day": {"form": wrong_day},
        "bound, an error of the whole form": {"form": whole_form},
        "saved": {"saved_message": "水域蓝湾社区: <Org> from 2026-03-08."},
    }


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fast_matrix_cell_writes_the_markup_of_the_include(world, language):
    cells = _cells(world)
    reference = Template(INCLUDE)
    tag = Template(TAG)
    compared = 0
    with translation.override(language):
        for cell_name, cell in cells.items():
            for form_name, extra in _forms().items():
                values = {
                    "cell": cell,
                    "district": world.district_a,
                    "csrf_token": "a-token",
                    **extra,
                }
                expected = reference.render(Context(values))
                assert tag.render(Context(values)) == expected, (cell_name, form_name)
                compared += 1
    assert compared == 30
    with translation.override(language):
        page = tag.render(
            Context({"cell": cells["current and scheduled"], "district": world.district_a})
        )
    assert "&lt;主任&gt; &amp; &quot;co&quot;" in page
    assert 'href="tel:139&#x27;0000"' in page


# The page's rows as the template loops they were before the row tags.
ROWS = (pathlib.Path(__file__).parent / "reference" / "matrix_rows.html").read_text()
ROW_TAGS = (
    "{% load matrix_cells %}\n<tbody>\n        {% matrix_community_rows matrix %}\n</tbody>\n"
    "{% if matrix.community %}<tbody>\n      {% matrix_point_rows matrix.community %}\n"
    "</tbody>{% endif %}\n<tbody>\n      {% matrix_sector_rows matrix %}\n</tbody>\n"
)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fast_matrix_rows_write_the_markup_of_the_template_loops(world, language):
    _cells(world)  # owners, a sector category and names to escape
    InspectionPointFactory(
        community=world.community_a,
        point_type=world.point_a.point_type,
        code="point-b & <c>",
        name="停用 <点>",
        is_active=False,
    )
    CategoryFactory(
        name="违建",
        name_en="Illegal building",
        owner_kind=OwnerKind.SECTOR,
        sector_hint="城管 & <x>",
    )
    empty = DistrictFactory(zone=world.zone, code="empty", name="空 & <街道>")
    matrices = {
        "communities, points and sectors": build_matrix(
            world.district_a, TODAY, community_id=world.community_a.pk
        ),
        "a page after the last point": build_matrix(
            world.district_a, TODAY, community_id=world.community_a.pk, points_after="zzz"
        ),
        "no community chosen": build_matrix(world.district_a, TODAY),
        "no communities": build_matrix(empty, TODAY),
    }
    Category.objects.filter(owner_kind=OwnerKind.SECTOR).update(is_active=False)
    matrices["no sectors"] = build_matrix(world.district_b, TODAY, community_id=0)
    with translation.override(language):
        for name, matrix in matrices.items():
            values = {"matrix": matrix, "district": matrix.district, "csrf_token": "a-token"}
            expected = Template(ROWS).render(Context(values))
            assert Template(ROW_TAGS).render(Context(values)) == expected, name
    assert 'aria-current="true"' in Template(ROW_TAGS).render(
        Context(
            {"matrix": matrices["communities, points and sectors"], "district": world.district_a}
        )
    )
