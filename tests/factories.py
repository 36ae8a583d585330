"""factory_boy factories for the domain, and the personas most tests share."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    PointType,
    Responsibility,
    Role,
    Severity,
    Zone,
)
from issues.models import Issue, Status

User = get_user_model()


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone
        django_get_or_create = ("code",)

    code = "TLETDZ"
    name = "通辽经济技术开发区"
    name_en = "Tongliao ETDZ"


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District

    zone = factory.SubFactory(ZoneFactory)
    code = factory.Sequence(lambda n: f"district-{n}")
    name = factory.Sequence(lambda n: f"街道{n}")
    name_en = factory.Sequence(lambda n: f"Street {n}")


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    district = factory.SubFactory(DistrictFactory)
    code = factory.Sequence(lambda n: f"community-{n}")
    name = factory.Sequence(lambda n: f"社区{n}")


class PointTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PointType

    code = factory.Sequence(lambda n: f"PT_{n}")
    name = factory.Sequence(lambda n: f"点位类型{n}")


class InspectionPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InspectionPoint

    code = factory.Sequence(lambda n: f"point-{n}")
    name = factory.Sequence(lambda n: f"点位{n}")
    point_type = factory.SubFactory(PointTypeFactory)
    community = factory.SubFactory(CommunityFactory)
    latitude = Decimal("43.650000")
    longitude = Decimal("122.250000")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    code = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"单位{n}")
    kind = Organisation.Kind.DEPARTMENT


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    code = factory.Sequence(lambda n: f"CAT_{n}")
    name = factory.Sequence(lambda n: f"问题类别{n}")
    name_en = factory.Sequence(lambda n: f"Category {n}")
    big_class = Category.BigClass.CITY_APPEARANCE
    severity = Severity.GENERAL
    limit_value = 2
    limit_unit = Category.LimitUnit.HOURS
    owner_kind = OwnerKind.TERRITORIAL


class ResponsibilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Responsibility

    kind = OwnerKind.TERRITORIAL
    organisation = factory.SubFactory(OrganisationFactory)
    valid_from = datetime.date(2020, 1, 1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("password")


def make_staff(
    username: str,
    role: str,
    *,
    districts: list[District] | tuple[District, ...] = (),
    organisation: Organisation | None = None,
    all_districts: bool = False,
):
    """A user with a membership of the given role and scope."""
    user = UserFactory(username=username)
    membership = Membership.objects.create(
        user=user, role=role, organisation=organisation, all_districts=all_districts
    )
    if districts:
        membership.districts.set(districts)
    return user


class IssueFactory(factory.django.DjangoModelFactory):
    """An issue written directly in a state, for tests and seeding; services are the real path."""

    class Meta:
        model = Issue

    zone = factory.SubFactory(ZoneFactory)
    community = factory.SubFactory(CommunityFactory)
    district = factory.LazyAttribute(lambda o: o.community.district)
    category = factory.SubFactory(CategoryFactory)
    severity = factory.LazyAttribute(lambda o: o.category.severity)
    year = factory.LazyFunction(lambda: timezone.localdate().year)
    case_number = factory.Sequence(lambda n: f"{timezone.localdate().year}-{n + 1:06d}")
    description = "测试问题"
    reporter = factory.SubFactory(UserFactory)
    status = Status.REPORTED


def make_issue(world, *, where: str = "a", status: str = Status.REPORTED, **fields) -> Issue:
    """An issue in district A (org X) or B (org Y); dispatched states get an org and deadline."""
    community = world.community_a if where == "a" else world.community_b
    organisation = world.org_x if where == "a" else world.org_y
    now = timezone.now()
    values = {
        "community": community,
        "category": world.category,
        "reporter": world.inspector_xincheng,
    }
    if status not in (Status.REPORTED, Status.REJECTED, Status.CANCELLED):
        # Reported before it was dispatched: a case dispatched an hour ago but "reported" now
        # gave the dashboards a report→dispatch time of −1 hour.
        values["reported_at"] = now - datetime.timedelta(hours=1, minutes=10)
        values.update(
            assigned_organisation=organisation,
            dispatched_at=now - datetime.timedelta(hours=1),
            clock_started_at=now - datetime.timedelta(hours=1),
            deadline=now + datetime.timedelta(hours=9),
        )
    if status == Status.CLOSED:
        values["closed_at"] = now
    values.update(fields)
    return IssueFactory(status=status, **values)


@dataclass
class World:
    """The shared personas, each named by role and scope. The legend:

    ======================  ========  ==========================================
    persona                 role      scope
    ======================  ========  ==========================================
    inspector_xincheng      巡查员    district A (新城街道)
    inspector_binhe         巡查员    district B (滨河街道)
    supervisor_xincheng     督办员    district A
    supervisor_binhe        督办员    district B
    handler_xincheng        责任单位  organisation X (新城街道办事处, answers for A)
    handler_binhe           责任单位  organisation Y (滨河街道办事处, answers for B)
    leader_zone             领导      every district of the zone
    admin_zone              管理员    every district of the zone (admins are zone-wide)
    ======================  ========  ==========================================

    "In scope" for a case in district A means the ``*_xincheng`` personas; the ``*_binhe`` ones are
    the out-of-scope (or wrong-organisation) personas of the same role.
    """

    zone: Zone
    district_a: District
    district_b: District
    community_a: Community
    community_b: Community
    point_a: InspectionPoint
    point_b: InspectionPoint
    org_x: Organisation
    org_y: Organisation
    category: Category
    inspector_xincheng: User
    supervisor_xincheng: User
    inspector_binhe: User
    supervisor_binhe: User
    handler_xincheng: User
    handler_binhe: User
    leader_zone: User
    admin_zone: User


def build_world() -> World:
    zone = ZoneFactory()
    district_a = DistrictFactory(zone=zone, code="district-a", name="新城街道")
    district_b = DistrictFactory(zone=zone, code="district-b", name="滨河街道")
    community_a = CommunityFactory(district=district_a, code="community-a", name="水域蓝湾社区")
    community_b = CommunityFactory(district=district_b, code="community-b", name="碧桂园社区")
    point_type = PointTypeFactory(code="WET_MARKET_T", name="农贸市场")
    point_a = InspectionPointFactory(
        community=community_a, point_type=point_type, code="point-a", name="水域蓝湾早夜市"
    )
    point_b = InspectionPointFactory(
        community=community_b,
        point_type=point_type,
        code="point-b",
        name="碧桂园便民市场",
        latitude=Decimal("43.610000"),
        longitude=Decimal("122.280000"),
    )
    org_x = OrganisationFactory(
        code="org-x",
        name="新城街道办事处",
        kind=Organisation.Kind.STREET_OFFICE,
        district=district_a,
    )
    org_y = OrganisationFactory(
        code="org-y",
        name="滨河街道办事处",
        kind=Organisation.Kind.STREET_OFFICE,
        district=district_b,
    )
    ResponsibilityFactory(kind=OwnerKind.TERRITORIAL, organisation=org_x, district=district_a)
    ResponsibilityFactory(kind=OwnerKind.TERRITORIAL, organisation=org_y, district=district_b)
    category = CategoryFactory(
        code="GARBAGE_EXPOSED_T",
        name="垃圾乱丢乱放",
        name_en="Exposed garbage",
        limit_value=2,
        limit_unit="H",
        on_spot_fix_allowed=True,
    )
    return World(
        zone=zone,
        district_a=district_a,
        district_b=district_b,
        community_a=community_a,
        community_b=community_b,
        point_a=point_a,
        point_b=point_b,
        org_x=org_x,
        org_y=org_y,
        category=category,
        inspector_xincheng=make_staff("inspector_xincheng", Role.INSPECTOR, districts=[district_a]),
        supervisor_xincheng=make_staff(
            "supervisor_xincheng", Role.SUPERVISOR, districts=[district_a]
        ),
        inspector_binhe=make_staff("inspector_binhe", Role.INSPECTOR, districts=[district_b]),
        supervisor_binhe=make_staff("supervisor_binhe", Role.SUPERVISOR, districts=[district_b]),
        handler_xincheng=make_staff("handler_xincheng", Role.HANDLER, organisation=org_x),
        handler_binhe=make_staff("handler_binhe", Role.HANDLER, organisation=org_y),
        leader_zone=make_staff("leader_zone", Role.LEADER, all_districts=True),
        admin_zone=make_staff("admin_zone", Role.ADMIN, all_districts=True),
    )
