"""The issue search finds the same issues however it is served (index or scan, any length)."""

from __future__ import annotations

import pytest
from django.db.models import Q

from issues.models import Issue
from tests.factories import IssueFactory

pytestmark = pytest.mark.django_db


def _plainly(text: str) -> set[int]:
    """The search's definition, without any index-shaped condition."""
    condition = (
        Q(case_number__startswith=text)
        | Q(description__icontains=text)
        | Q(address__icontains=text)
        | Q(category__name__icontains=text)
        | Q(point__name__icontains=text)
        | Q(community__name__icontains=text)
    )
    if text.isascii() and text.isdigit() and len(text) <= 6:
        condition |= Q(case_number__endswith="-" + text.zfill(6))
    return set(Issue.objects.filter(condition).values_list("pk", flat=True))


@pytest.fixture
def issues(world):
    made = {}
    for key, case_number, description, address in [
        ("market", "2026-000101", "早市摊位占道经营", "新城大街12号"),
        ("latin", "2026-000102", "Garbage bin full", "Xincheng Road 8"),
        ("edge", "2026-000103", "路面积水a", "b号楼门前"),
        ("cover", "2026-000104", "井盖缺失,存在安全隐患", ""),
        ("percent", "2026-000105", "满溢100%", "世纪路"),
        ("number", "2026-120001", "路灯不亮", "明德路"),
    ]:
        made[key] = IssueFactory(
            case_number=case_number,
            description=description,
            address=address,
            community=world.community_a,
            category=world.category,
            reporter=world.inspector_xincheng,
        )
    return made


@pytest.mark.parametrize(
    "text",
    ["占道", "井盖", "街1", "ga", "GA", "bi", "0%", "a", "ab", "a b", "2026-00", "20", "12",
     "路灯不亮", "井盖缺失", "garbage bin", "积水", "号楼", "不存在", "%", "_", "101", "000104",
     "垃圾", "乱丢乱放", "蓝湾", "早夜市", "社区"],
)  # fmt: skip
def test_search_finds_what_its_definition_finds(issues, text):
    found = set(Issue.objects.search(text).values_list("pk", flat=True))
    assert found == _plainly(text.strip())


def test_two_characters_never_match_across_the_description_and_the_address(issues):
    # "…积水a" + "b号楼…": "ab" is in neither field, though they meet in the index's text.
    assert issues["edge"].pk not in set(Issue.objects.search("ab").values_list("pk", flat=True))


def test_a_case_number_matches_by_prefix_only(issues):
    assert set(Issue.objects.search("12").values_list("pk", flat=True)) == {issues["market"].pk}
    assert issues["number"].pk in set(Issue.objects.search("20").values_list("pk", flat=True))


def test_fieldwalk_search_finds_a_case_by_the_tail_of_its_number(issues):
    for text in ("101", "0101", "000101"):
        found = set(Issue.objects.search(text).values_list("pk", flat=True))
        assert issues["market"].pk in found, text
    assert issues["number"].pk not in set(Issue.objects.search("101").values_list("pk", flat=True))


def test_fieldwalk_search_finds_category_point_and_community_names(issues, world):
    issues["cover"].point = world.point_a
    issues["cover"].save(update_fields=["point"])
    everything = {issue.pk for issue in issues.values()}
    # The world's category and community name every issue; only one stands at the point.
    assert set(Issue.objects.search("乱丢").values_list("pk", flat=True)) == everything
    assert set(Issue.objects.search("蓝湾社区").values_list("pk", flat=True)) == everything
    assert set(Issue.objects.search("早夜市").values_list("pk", flat=True)) == {issues["cover"].pk}


def test_fieldwalk_search_runs_one_name_lookup_and_one_list_query(
    issues, django_assert_num_queries
):
    from django.db import connection

    # SQLite cannot LIMIT inside a UNION: one lookup per kind there.
    lookups = 1 if connection.features.supports_slicing_ordering_in_compound else 3
    with django_assert_num_queries(lookups + 1):
        list(Issue.objects.search("早夜市"))


def test_fast_search_folds_case_only_for_names_with_cased_letters(issues, world):
    # Names are scanned with case folding only when the text has a letter with case.
    world.point_a.name = "Plaza 广场 Gate"
    world.point_a.save(update_fields=["name"])
    issues["cover"].point = world.point_a
    issues["cover"].save(update_fields=["point"])
    for text in ("plaza", "PLAZA", "广场", "a 广场 g"):
        found = set(Issue.objects.search(text).values_list("pk", flat=True))
        assert found == _plainly(text), text
        assert issues["cover"].pk in found, text
