"""A round world on top of the shared personas: standards, points and a round to walk."""

from __future__ import annotations

import datetime
import io
import uuid
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from districts.models import CheckItem
from rounds import services
from tests.factories import InspectionPointFactory

TODAY = datetime.date(2026, 3, 2)


def jpeg(colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(name: str = "fail.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg(), content_type="image/jpeg")


def token() -> str:
    return str(uuid.uuid4())


def add_standards(world, *, count: int = 3) -> list[CheckItem]:
    """Standards of the world's market point type: the first linked to the world's category."""
    point_type = world.point_a.point_type
    items = []
    for index in range(count):
        items.append(
            CheckItem.objects.create(
                point_type=point_type,
                text=f"标准{index + 1}",
                weight=index + 1,
                category=world.category if index == 0 else None,
                photo_required_on_fail=index == 0,
                sort_order=index,
            )
        )
    return items


def add_points(world, count: int, *, where: str = "a") -> list:
    community = world.community_a if where == "a" else world.community_b
    return [
        InspectionPointFactory(
            community=community,
            point_type=world.point_a.point_type,
            latitude=Decimal("43.650000") + Decimal(index) / 1000,
            longitude=Decimal("122.250000"),
        )
        for index in range(count)
    ]


def make_round(world, *, actor=None, inspectors=None, districts=None, **fields):
    values = {
        "name": "第一周巡查",
        "kind": "routine",
        "starts_on": TODAY,
        "ends_on": TODAY + datetime.timedelta(days=6),
    }
    values.update(fields)
    return services.round_create(
        actor=actor or world.supervisor_xincheng,
        districts=districts or [world.district_a],
        inspectors=inspectors if inspectors is not None else [world.inspector_xincheng],
        **values,
    )


def round_with_a_failed_mark(world):
    """A round in district A walked by inspector_xincheng: one visit, one failed standard."""
    standards = add_standards(world, count=1)
    round_point = make_round(world).round_points.get()
    services.observation_record(
        round_point=round_point,
        actor=world.inspector_xincheng,
        check_item=standards[0],
        result="no",
        client_token=token(),
    )
    return round_point.round
