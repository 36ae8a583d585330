"""The default taxonomy of docs/domain.md §6 is installed complete, in Chinese and English."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command

from districts import taxonomy
from districts.models import Category, CheckItem, OwnerKind, PointType, Severity, Zone

# Codes exactly as docs/domain.md §6a and §6b list them.
POINT_TYPE_CODES = {
    "ROAD_MAIN", "COMMERCIAL_ST", "BACK_ALLEY", "RESIDENTIAL", "OLD_COMPOUND", "WET_MARKET",
    "NIGHT_MARKET", "PARK_SQUARE", "SCHOOL_AREA", "HOSPITAL", "BUS_STOP", "TRANSPORT_HUB",
    "CONSTRUCTION", "SERVICE_HALL", "MALL_SHOP", "PUBLIC_TOILET", "COMMUNITY_SITE",
}  # fmt: skip
# code: (severity, limit value, unit, owner kind, sector hint)
CATEGORY_SPEC = {
    "GARBAGE_EXPOSED": ("general", 2, "WH", "territorial", ""),
    "BIN_OVERFLOW": ("general", 2, "WH", "territorial", ""),
    "ROAD_DIRTY": ("general", 2, "WH", "territorial", ""),
    "DEBRIS_PILE": ("general", 4, "WH", "territorial", ""),
    "SMALL_AD": ("general", 4, "WH", "territorial", ""),
    "AD_SIGN": ("major", 5, "WD", "sector", "城管"),
    "PSA_DAMAGED": ("major", 3, "WD", "paired", ""),
    "EBIKE_PARKING": ("general", 2, "WH", "territorial", ""),
    "CAR_ILLEGAL_PARK": ("major", 1, "H", "sector", "交警"),
    "UNLICENSED_VEHICLE": ("general", 5, "WD", "sector", "交警"),
    "STREET_VENDING": ("major", 2, "WH", "territorial", ""),
    "SHOP_OUTSIDE": ("general", 2, "WH", "territorial", ""),
    "MARKET_ORDER": ("general", 1, "WD", "territorial", ""),
    "FRONTAGE_DUTY": ("general", 1, "WD", "territorial", ""),
    "GREEN_OCCUPIED": ("major", 3, "WD", "sector", "园林"),
    "GREEN_DIRTY": ("general", 1, "WD", "sector", "园林"),
    "CONSTR_WASTE": ("major", 1, "WD", "sector", "城管/住建"),
    "SITE_DUST": ("major", 1, "WD", "sector", "住建"),
    "ILLEGAL_BUILD": ("major", 15, "WD", "sector", "城管"),
    "FLY_WIRE": ("urgent", 4, "WH", "territorial", ""),
    "FIRE_LANE": ("urgent", 2, "H", "territorial", ""),
    "MANHOLE": ("urgent", 2, "H", "sector", "权属单位"),
    "ROAD_DAMAGE": ("major", 5, "WD", "sector", "市政"),
    "STREETLIGHT": ("general", 3, "WD", "sector", "市政"),
    "WATERLOGGING": ("urgent", 4, "WH", "sector", "排水"),
    "OLD_FACILITY": ("general", 10, "WD", "paired", ""),
    "TOILET_DIRTY": ("major", 2, "WH", "sector", "环卫"),
    "MARKET_HYGIENE": ("major", 1, "WD", "sector", "市场监管"),
    "FOOD_STALL": ("major", 3, "WD", "sector", "市场监管"),
    "VECTOR": ("major", 3, "WD", "sector", "爱卫"),
    "INCIVILITY": ("general", 1, "WD", "territorial", ""),
    "OTHER": ("general", 3, "WD", "sector", "兜底"),
}


def test_the_migration_installs_all_seventeen_point_types(db):
    assert set(PointType.objects.values_list("code", flat=True)) >= POINT_TYPE_CODES
    assert len(taxonomy.POINT_TYPES) == 17
    assert {seed.code for seed in taxonomy.POINT_TYPES} == POINT_TYPE_CODES


def test_every_point_type_has_chinese_and_english_names_and_four_to_eight_check_items(db):
    for point_type in PointType.objects.filter(code__in=POINT_TYPE_CODES):
        items = list(point_type.check_items.all())
        assert point_type.name and point_type.name_en, point_type.code
        assert 4 <= len(items) <= 8, point_type.code
        assert all(item.text and item.text_en for item in items), point_type.code


def test_market_check_items_include_the_standards_of_the_spec(db):
    texts = " ".join(
        CheckItem.objects.filter(point_type__code="WET_MARKET").values_list("text", flat=True)
    )
    for standard in ("划行归市", "五公示", "公平秤", "活禽"):
        assert standard in texts


def test_the_migration_installs_all_thirty_two_categories_as_specified(db):
    categories = {c.code: c for c in Category.objects.filter(code__in=CATEGORY_SPEC)}
    assert len(taxonomy.CATEGORIES) == 32
    assert set(categories) == set(CATEGORY_SPEC)
    for code, (severity, value, unit, owner_kind, hint) in CATEGORY_SPEC.items():
        category = categories[code]
        assert (
            category.severity,
            category.limit_value,
            category.limit_unit,
            category.owner_kind,
            category.sector_hint,
        ) == (severity, value, unit, owner_kind, hint), code


def test_every_category_has_an_english_name_a_big_class_and_a_closing_condition(db):
    for category in Category.objects.filter(code__in=CATEGORY_SPEC):
        assert category.name and category.name_en, category.code
        assert category.big_class in Category.BigClass.values, category.code
        assert category.closing_condition, category.code
        assert category.quick_phrase_list, category.code


def test_sector_categories_name_their_department_and_others_do_not(db):
    for category in Category.objects.filter(code__in=CATEGORY_SPEC):
        assert bool(category.sector_hint) == (category.owner_kind == OwnerKind.SECTOR)


def test_small_problems_may_be_fixed_on_the_spot_and_urgent_ones_may_not(db):
    on_spot = set(Category.objects.filter(on_spot_fix_allowed=True).values_list("code", flat=True))
    assert {"SMALL_AD", "EBIKE_PARKING", "GARBAGE_EXPOSED", "DEBRIS_PILE"} <= on_spot
    assert not Category.objects.filter(on_spot_fix_allowed=True, severity=Severity.URGENT).exists()


def test_categories_are_sorted_in_the_order_of_the_spec(db):
    codes = list(
        Category.objects.filter(code__in=CATEGORY_SPEC)
        .order_by("sort_order")
        .values_list("code", flat=True)
    )
    assert codes == [seed.code for seed in taxonomy.CATEGORIES]


def test_the_migration_creates_the_default_zone(db):
    zone = Zone.objects.get(code=settings.DEFAULT_ZONE_CODE)
    assert zone.name == "通辽经济技术开发区"


def test_installing_the_taxonomy_again_creates_nothing(db):
    counts = (PointType.objects.count(), CheckItem.objects.count(), Category.objects.count())

    created = taxonomy.install_default_taxonomy(
        zone_model=Zone,
        point_type_model=PointType,
        check_item_model=CheckItem,
        category_model=Category,
        zone_code=settings.DEFAULT_ZONE_CODE,
    )

    assert created == {"zones": 0, "point_types": 0, "check_items": 0, "categories": 0}
    assert (PointType.objects.count(), CheckItem.objects.count(), Category.objects.count()) == (
        counts
    )


def test_load_taxonomy_resets_an_edited_category_to_the_default(db):
    Category.objects.filter(code="SMALL_AD").update(limit_value=99, name="改过的名字")

    call_command("load_taxonomy", stdout=io.StringIO())

    category = Category.objects.get(code="SMALL_AD")
    assert (category.limit_value, category.name) == (4, "小广告乱贴乱画")


def test_load_taxonomy_keep_edits_only_adds_what_is_missing(db):
    Category.objects.filter(code="SMALL_AD").update(limit_value=99)
    Category.objects.filter(code="OTHER").delete()

    call_command("load_taxonomy", "--keep-edits", stdout=io.StringIO())

    assert Category.objects.get(code="SMALL_AD").limit_value == 99
    assert Category.objects.filter(code="OTHER").exists()


@pytest.mark.parametrize("seed", taxonomy.CATEGORIES, ids=lambda seed: seed.code)
def test_category_seed_values_are_valid_choices(seed):
    assert seed.big_class in Category.BigClass.values
    assert seed.severity in Severity.values
    assert seed.limit_unit in Category.LimitUnit.values
    assert seed.owner_kind in OwnerKind.values
    assert seed.limit_value > 0
