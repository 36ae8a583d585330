"""No input gives a 500: hypothesis strings in every GET parameter of every list-like view."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from districts.models import OwnerKind

# Characters that broke views before: superscript digits (`isdigit()` accepts them), NUL (refused
# by PostgreSQL), far dates, signs, spaces, quotes, CJK text and lone surrogates' neighbours.
NASTY = st.sampled_from(
    ["²", "\x00", "9999-12-31", "0001-01-01", "-1", "1e9", "99999999999999999999", " ", "'", "垃圾"]
)
VALUES = st.one_of(NASTY, st.text(max_size=12), st.integers(-(2**70), 2**70).map(str))


def list_views(world) -> list[tuple[str, str, tuple[str, ...]]]:
    """(persona, url, parameter names) for every page that reads its query string."""
    district = world.district_a.pk
    issue_params = (
        "q",
        "district",
        "community",
        "point_type",
        "point",
        "category",
        "status",
        "organisation",
        "severity",
        "overdue",
        "light",
        "escalation_level",
        "rework",
        "reporter",
        "reported_from",
        "reported_to",
        "dispatched_from",
        "dispatched_to",
        "closed_from",
        "closed_to",
        "sort",
        "per_page",
        "after",
        "before",
        "page",
        "cursor",
    )
    return [
        ("supervisor_xincheng", reverse("issues:issue_list"), issue_params),
        ("inspector_xincheng", reverse("issues:issue_list"), issue_params),
        ("handler_xincheng", reverse("issues:issue_list"), issue_params),
        ("supervisor_xincheng", reverse("issues:issue_export"), issue_params),
        ("supervisor_xincheng", reverse("issues:notification_list"), ("before", "after", "page")),
        ("supervisor_xincheng", reverse("issues:triage"), ("page", "sort")),
        ("supervisor_xincheng", reverse("issues:verify_queue"), ("page",)),
        ("inspector_xincheng", reverse("issues:issue_report"), ("point", "format", "category")),
        ("inspector_xincheng", reverse("issues:nearby_points"), ("lat", "lng", "format")),
        ("supervisor_xincheng", reverse("home"), ("period", "page")),
        ("supervisor_xincheng", reverse("issues:picker", args=["point"]), ("q", "reporting")),
        ("handler_xincheng", reverse("issues:picker", args=["organisation"]), ("q",)),
        (
            "admin_zone",
            reverse("districts:staff_list"),
            ("q", "role", "district", "organisation", "page"),
        ),
        ("admin_zone", reverse("districts:staff_create"), ("role", "organisation", "districts")),
        ("admin_zone", reverse("districts:audit"), ("action", "page", "object_type")),
        ("admin_zone", reverse("districts:coverage"), ("district",)),
        (
            "admin_zone",
            reverse("districts:routing_check"),
            ("category", "community", "point", "on"),
        ),
        ("admin_zone", reverse("districts:export"), ("format", "template", "kind")),
        ("admin_zone", reverse("districts:matrix", args=[district]), ("on", "community", "kind")),
        (
            "admin_zone",
            reverse("districts:matrix_cell", args=[district]),
            ("kind", "community", "point", "category", "on"),
        ),
        (
            "admin_zone",
            reverse("districts:cell_history", args=[district]),
            ("kind", "community", "point", "category"),
        ),
        ("admin_zone", reverse("districts:district_staff", args=[district]), ("page",)),
    ]


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_input_no_5xx_on_any_get_parameter_of_any_list_like_view(client, world, data):
    for persona, url, names in list_views(world):
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
        params = {name: data.draw(VALUES) for name in chosen}
        client.force_login(getattr(world, persona))
        response = client.get(url, params)
        assert response.status_code < 500, (url, params)


def test_input_known_bad_parameters_answer_without_a_500(client, world):
    cell = {"kind": OwnerKind.TERRITORIAL, "community": "²"}
    cases = [
        ("supervisor_xincheng", reverse("issues:issue_list"), {"reported_to": "9999-12-31"}),
        ("supervisor_xincheng", reverse("issues:issue_list"), {"dispatched_to": "9999-12-31"}),
        ("supervisor_xincheng", reverse("issues:issue_list"), {"closed_to": "9999-12-31"}),
        ("supervisor_xincheng", reverse("issues:issue_export"), {"reported_to": "9999-12-31"}),
        ("supervisor_xincheng", reverse("issues:notification_list"), {"before": "²"}),
        ("admin_zone", reverse("districts:staff_create"), {"organisation": "²"}),
        ("admin_zone", reverse("districts:staff_create"), {"districts": "²"}),
        ("admin_zone", reverse("districts:audit"), {"action": "\x00"}),
        ("admin_zone", reverse("districts:matrix_cell", args=[world.district_a.pk]), cell),
    ]
    for persona, url, params in cases:
        client.force_login(getattr(world, persona))
        response = client.get(url, params)
        assert response.status_code in (200, 400), (url, params, response.status_code)
