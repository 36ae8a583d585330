"""Photo uploads (refused, neutralised or kept with their EXIF facts) and the scoped photo views.

Every test name contains "upload" or "photo": `pytest -k "upload or photo"` runs this group.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import struct
import zlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from PIL import ExifTags, Image, ImageCms, ImageFile, TiffImagePlugin

from issues.models import Action, IssueEvent, Photo, Status
from issues.photos import PreparedPhoto, attach_photos, prepare_photos
from tests.factories import IssueFactory

Rational = TiffImagePlugin.IFDRational
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test stores its files in its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def english():
    """Refusal messages are compared in English, the msgid language."""
    with translation.override("en"):
        yield


# --- building uploads -----------------------------------------------------------------------


def camera_exif(*, orientation: int = 1, offset: str | None = None) -> Image.Exif:
    """EXIF as a phone writes it: capture time, and GPS 43°39'12.34"N 122°15'0"E."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Apple"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "2026:03:01 10:20:30"
    if offset:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (Rational(43, 1), Rational(39, 1), Rational(1234, 100))
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (Rational(122, 1), Rational(15, 1), Rational(0, 1))
    return exif


def two_tone(size: tuple[int, int] = (120, 60)) -> Image.Image:
    """Left half red, right half blue: shows which way the photo was turned."""
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    # The client's content type is deliberately often wrong: only the content decides.
    return SimpleUploadedFile(name, content, content_type=content_type)


def png_header_only(width: int, height: int) -> bytes:
    """A few dozen bytes of PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def refusal_messages(uploads) -> list[str]:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        prepare_photos(uploads)
    return [str(message) for message in caught.value.messages]


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def assert_no_metadata(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    assert image.format == "JPEG"
    assert len(image.getexif()) == 0
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert "exif" not in image.info
    assert "icc_profile" not in image.info
    assert "xmp" not in image.info
    assert b"Exif\x00\x00" not in content
    return image


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any pixel data is decoded."""

    def refuse_to_load(self):
        raise AssertionError("pixels were decoded before the upload was refused")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_load)


# --- what is kept, what is stored ------------------------------------------------------------


def test_upload_of_jpeg_keeps_exif_time_and_gps_in_fields_and_stores_no_metadata(world):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = encode(
        two_tone(), "JPEG", exif=camera_exif(orientation=6), icc_profile=srgb, quality=95
    )
    issue = IssueFactory(community=world.community_a, reporter=world.inspector_xincheng)

    [prepared] = prepare_photos([upload("IMG_0001.JPG", original)])
    [photo] = attach_photos(
        issue=issue, kind=Photo.Kind.BEFORE, photos=[prepared], uploaded_by=world.inspector_xincheng
    )

    photo.refresh_from_db()
    assert photo.gps_latitude == Decimal("43.653428")
    assert photo.gps_longitude == Decimal("122.250000")
    assert photo.taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)
    assert photo.original_name == "IMG_0001.JPG"
    assert photo.original_format == "JPEG"
    assert photo.sha256 == hashlib.sha256(original).hexdigest()
    content = stored(photo.image.name)
    assert photo.size_bytes == len(content)
    image = assert_no_metadata(content)
    # Orientation 6 means "turn 90° clockwise to view": the wide photo becomes tall, red on top.
    assert image.size == (60, 120) == (photo.width, photo.height)
    top, bottom = image.convert("RGB").getpixel((30, 10)), image.convert("RGB").getpixel((30, 110))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert_no_metadata(stored(photo.thumbnail.name))


def test_upload_capture_time_uses_the_exif_offset_when_present():
    original = encode(two_tone(), "JPEG", exif=camera_exif(offset="+02:00"))

    [prepared] = prepare_photos([upload("abroad.jpg", original)])

    assert prepared.taken_at == datetime.datetime(2026, 3, 1, 8, 20, 30, tzinfo=datetime.UTC)


def test_upload_without_exif_has_no_capture_time_or_position():
    [prepared] = prepare_photos([upload("plain.jpg", encode(two_tone(), "JPEG"))])

    assert prepared.taken_at is None
    assert prepared.gps_latitude is None
    assert prepared.gps_longitude is None


def test_upload_with_southern_and_western_gps_refs_gives_negative_degrees():
    exif = camera_exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"

    [prepared] = prepare_photos([upload("south.jpg", encode(two_tone(), "JPEG", exif=exif))])

    assert prepared.gps_latitude == Decimal("-43.653428")
    assert prepared.gps_longitude == Decimal("-122.250000")


def test_upload_with_malformed_gps_keeps_the_photo_without_a_position():
    exif = camera_exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitude] = (Rational(95, 1), Rational(0, 1), Rational(0, 1))

    [prepared] = prepare_photos([upload("bad-gps.jpg", encode(two_tone(), "JPEG", exif=exif))])

    assert prepared.gps_latitude is None
    assert prepared.gps_longitude is None
    assert prepared.taken_at is not None


def test_upload_of_png_with_html_tail_is_stored_as_a_clean_jpeg(world):
    tail = b"<html><body><script>alert(document.cookie)</script></body></html>"
    original = encode(two_tone(), "PNG") + tail
    issue = IssueFactory(community=world.community_a, reporter=world.inspector_xincheng)

    [prepared] = prepare_photos([upload("innocent.png", original, "image/png")])
    [photo] = attach_photos(
        issue=issue, kind=Photo.Kind.BEFORE, photos=[prepared], uploaded_by=world.inspector_xincheng
    )

    content = stored(photo.image.name)
    assert content.startswith(b"\xff\xd8\xff")
    assert b"<script" not in content
    assert b"<html" not in content
    assert b"<script" not in stored(photo.thumbnail.name)
    assert_no_metadata(content)
    assert photo.original_format == "PNG"


def test_upload_of_transparent_png_is_flattened_on_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))

    [prepared] = prepare_photos([upload("cutout.png", encode(image, "PNG"))])

    pixel = Image.open(io.BytesIO(prepared.content)).getpixel((20, 20))
    assert min(pixel) > 245


def test_upload_of_large_photo_is_scaled_down_and_gets_a_thumbnail():
    original = encode(Image.new("RGB", (4000, 3000), (10, 120, 40)), "JPEG")

    [prepared] = prepare_photos([upload("big.jpg", original)])

    assert (prepared.width, prepared.height) == (2560, 1920)
    assert Image.open(io.BytesIO(prepared.content)).size == (2560, 1920)
    assert Image.open(io.BytesIO(prepared.thumbnail)).size == (480, 360)
    assert prepared.size == len(prepared.content)
    assert prepared.sha256 == hashlib.sha256(original).hexdigest()


def test_upload_of_large_png_is_scaled_down():
    original = encode(Image.new("RGB", (12_000, 1_000), (10, 120, 40)), "PNG")

    [prepared] = prepare_photos([upload("panorama.png", original, "image/png")])

    assert (prepared.width, prepared.height) == (2560, 213)
    assert Image.open(io.BytesIO(prepared.thumbnail)).size == (480, 40)


def test_upload_of_webp_is_accepted():
    original = encode(two_tone(), "WEBP", exif=camera_exif())

    [prepared] = prepare_photos([upload("photo.webp", original, "image/webp")])

    assert prepared.original_format == "WEBP"
    assert prepared.gps_latitude == Decimal("43.653428")
    assert_no_metadata(prepared.content)


def test_upload_of_heic_from_an_iphone_is_accepted():
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("encoders", {}).get("x265"):
        pytest.skip("this libheif build cannot encode HEIC, so no sample can be made")
    pillow_heif.register_heif_opener()
    original = encode(two_tone(), "HEIF", exif=camera_exif().tobytes(), quality=80)

    [prepared] = prepare_photos([upload("IMG_4242.HEIC", original, "application/octet-stream")])

    assert prepared.original_format == "HEIF"
    assert prepared.taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)
    assert prepared.gps_longitude == Decimal("122.250000")
    assert (prepared.width, prepared.height) == (120, 60)
    assert_no_metadata(prepared.content)


def test_upload_of_several_photos_keeps_their_order():
    uploads = [
        upload("one.jpg", encode(Image.new("RGB", (10, 20)), "JPEG")),
        upload("two.png", encode(Image.new("RGB", (30, 20)), "PNG")),
    ]

    prepared = prepare_photos(uploads)

    assert [photo.original_name for photo in prepared] == ["one.jpg", "two.png"]
    assert [photo.width for photo in prepared] == [10, 30]


# --- what is refused -------------------------------------------------------------------------


def test_upload_decompression_bomb_is_refused_before_decoding(no_decoding):
    bomb = png_header_only(50_000, 50_000)
    assert len(bomb) < 200

    messages = refusal_messages([upload("bomb.png", bomb, "image/png")])

    assert messages == ["“bomb.png” has too many pixels: photos may have at most 50 megapixels."]


def test_upload_of_compressible_image_just_over_the_pixel_cap_is_refused_before_decoding(
    no_decoding,
):
    # 51 megapixels that compress to a few kilobytes: below Pillow's own bomb limit, above ours.
    huge = encode(Image.new("1", (8500, 6000)), "PNG")
    assert len(huge) < 100_000

    messages = refusal_messages([upload("huge.png", huge, "image/png")])

    assert messages == ["“huge.png” has too many pixels: photos may have at most 50 megapixels."]


def test_upload_pixel_cap_follows_the_setting(settings, no_decoding):
    settings.PHOTO_MAX_PIXELS = 10_000

    messages = refusal_messages([upload("wide.jpg", encode(Image.new("RGB", (200, 100)), "JPEG"))])

    assert messages == ["“wide.jpg” has too many pixels: photos may have at most 0.01 megapixels."]


def test_upload_of_svg_is_refused_naming_the_file():
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
    )

    messages = refusal_messages([upload("map.svg", svg, "image/svg+xml")])

    assert messages == [
        "“map.svg” is not a photo we can read. Upload a JPEG, PNG, WebP or HEIC (iPhone) image."
    ]


def test_upload_of_gif_is_refused_even_when_named_jpg():
    gif = encode(two_tone(), "GIF")

    messages = refusal_messages([upload("photo.jpg", gif)])

    assert len(messages) == 1
    assert "“photo.jpg” is not a photo we can read" in messages[0]


def truncated_jpeg() -> bytes:
    content = encode(Image.effect_noise((400, 300), 64).convert("RGB"), "JPEG")
    return content[: len(content) // 2]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.jpg", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("scan.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"),
        ("noise.png", bytes(range(256)) * 8),
        ("cut.jpg", truncated_jpeg()),
        ("photo.bmp", encode(Image.new("RGB", (10, 10)), "BMP")),
        ("photo.tiff", encode(Image.new("RGB", (10, 10)), "TIFF")),
    ],
)
def test_upload_of_other_content_is_refused(name, content):
    messages = refusal_messages([upload(name, content)])

    assert messages == [
        f"“{name}” is not a photo we can read. Upload a JPEG, PNG, WebP or HEIC (iPhone) image."
    ]


def test_upload_of_empty_file_is_refused():
    assert refusal_messages([upload("empty.jpg", b"")]) == ["“empty.jpg” is empty."]


def test_upload_larger_than_the_byte_cap_is_refused(settings):
    settings.PHOTO_MAX_BYTES = 1024 * 1024
    noisy = encode(Image.effect_noise((1200, 1200), 100).convert("RGB"), "PNG")
    assert len(noisy) > 1024 * 1024

    messages = refusal_messages([upload("raw.png", noisy, "image/png")])

    assert messages == ["“raw.png” is too large: photos may be at most 1 MB."]


class UnreadableUpload(UploadedFile):
    """An upload that fails the test if anything reads it."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(file=io.BytesIO(), name=name, content_type="image/jpeg", size=size)

    def read(self, *args, **kwargs):
        raise AssertionError("the upload was read although its size is over the cap")


def test_upload_over_the_byte_cap_is_refused_without_reading_it(settings):
    settings.PHOTO_MAX_BYTES = 1000

    messages = refusal_messages([UnreadableUpload("huge.jpg", size=50_000_000)])

    assert len(messages) == 1
    assert messages[0].startswith("“huge.jpg” is too large")


def test_upload_whose_declared_size_lies_is_still_capped(settings):
    settings.PHOTO_MAX_BYTES = 1000
    content = encode(Image.effect_noise((200, 200), 100).convert("RGB"), "PNG")
    liar = UploadedFile(io.BytesIO(content), name="small.png", content_type="image/png", size=10)

    messages = refusal_messages([liar])

    assert len(messages) == 1
    assert messages[0].startswith("“small.png” is too large")


def test_upload_of_too_many_photos_is_refused(settings):
    settings.PHOTO_MAX_PER_UPLOAD = 2
    jpeg = encode(two_tone(), "JPEG")

    messages = refusal_messages([upload(f"{n}.jpg", jpeg) for n in range(3)])

    assert messages == ["You can upload at most 2 photos at a time; you chose 3."]


def test_upload_refusal_names_every_refused_file():
    uploads = [
        upload("good.jpg", encode(two_tone(), "JPEG")),
        upload("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        upload("anim.gif", encode(two_tone(), "GIF")),
    ]

    messages = refusal_messages(uploads)

    assert len(messages) == 2
    assert "“drawing.svg”" in messages[0]
    assert "“anim.gif”" in messages[1]


def test_upload_name_keeps_only_the_last_path_part():
    [prepared] = prepare_photos([upload("C:\\Users\\me\\IMG_1.jpg", encode(two_tone(), "JPEG"))])

    assert prepared.original_name == "IMG_1.jpg"


# --- attaching ------------------------------------------------------------------------------


def test_photo_attach_records_kind_event_uploader_and_files(world):
    issue = IssueFactory(community=world.community_a, reporter=world.inspector_xincheng)
    event = IssueEvent.objects.create(
        issue=issue, actor=world.inspector_xincheng, action=Action.REPORT, to_status=Status.REPORTED
    )
    prepared = prepare_photos(
        [
            upload("storefront.jpg", encode(two_tone(), "JPEG")),
            upload("scene.png", encode(two_tone(), "PNG")),
        ]
    )

    photos = attach_photos(
        issue=issue, kind="after", photos=prepared, uploaded_by=world.handler_xincheng, event=event
    )

    assert [photo.pk is not None for photo in photos] == [True, True]
    rows = list(issue.photos.order_by("id"))
    assert [row.original_name for row in rows] == ["storefront.jpg", "scene.png"]
    assert {(row.kind, row.event_id, row.uploaded_by_id) for row in rows} == {
        (Photo.Kind.AFTER, event.pk, world.handler_xincheng.pk)
    }
    for row, source in zip(rows, prepared, strict=True):
        assert row.image.name.endswith(".jpg")
        # The stored name is random (hex), never the uploaded one.
        assert "storefront" not in row.image.name and "scene" not in row.image.name
        assert stored(row.image.name) == source.content
        assert stored(row.thumbnail.name) == source.thumbnail


def test_photo_attach_refuses_an_unknown_kind_and_writes_nothing(world):
    issue = IssueFactory(community=world.community_a, reporter=world.inspector_xincheng)
    prepared = prepare_photos([upload("a.jpg", encode(two_tone(), "JPEG"))])

    with pytest.raises(ValueError):
        attach_photos(
            issue=issue, kind="selfie", photos=prepared, uploaded_by=world.inspector_xincheng
        )

    assert not Photo.objects.exists()


def test_prepared_photo_repr_leaves_out_the_image_bytes():
    [prepared] = prepare_photos([upload("a.jpg", encode(two_tone(), "JPEG"))])

    assert isinstance(prepared, PreparedPhoto)
    assert "content=" not in repr(prepared)
    assert len(repr(prepared)) < 600


# --- serving --------------------------------------------------------------------------------


@pytest.fixture
def photo(world) -> Photo:
    """A before-photo of an issue in district A, assigned to organisation X."""
    issue = IssueFactory(
        community=world.community_a,
        reporter=world.inspector_xincheng,
        status=Status.ASSIGNED,
        assigned_organisation=world.org_x,
        deadline=timezone.now() + datetime.timedelta(hours=2),
    )
    prepared = prepare_photos([upload("IMG_0001.JPG", encode(two_tone(), "JPEG"))])
    [photo] = attach_photos(
        issue=issue, kind=Photo.Kind.BEFORE, photos=prepared, uploaded_by=world.inspector_xincheng
    )
    return photo


VIEWS = ["issues:photo", "issues:photo_thumb"]


@pytest.mark.parametrize("view", VIEWS)
def test_photo_view_sends_anonymous_users_to_login(client, photo, view):
    url = reverse(view, args=[photo.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("persona", ["inspector_binhe", "supervisor_binhe", "handler_binhe"])
def test_photo_view_is_404_outside_scope(client, world, photo, view, persona):
    client.force_login(getattr(world, persona))

    response = client.get(reverse(view, args=[photo.pk]))

    assert response.status_code == 404


@pytest.mark.parametrize("view", VIEWS)
def test_photo_view_gives_the_same_404_for_a_missing_photo(client, world, photo, view):
    client.force_login(world.admin_zone)

    response = client.get(reverse(view, args=[photo.pk + 1000]))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("view", "field"), [("issues:photo", "image"), ("issues:photo_thumb", "thumbnail")]
)
@pytest.mark.parametrize(
    "persona",
    ["inspector_xincheng", "supervisor_xincheng", "handler_xincheng", "leader_zone", "admin_zone"],
)
def test_photo_view_streams_the_stored_jpeg_in_scope(client, world, photo, view, field, persona):
    client.force_login(getattr(world, persona))

    response = client.get(reverse(view, args=[photo.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Cache-Control"] == "private, max-age=3600"
    assert b"".join(response.streaming_content) == stored(getattr(photo, field).name)


def test_photo_view_refuses_post(client, world, photo):
    client.force_login(world.inspector_xincheng)

    response = client.post(reverse("issues:photo", args=[photo.pk]))

    assert response.status_code == 405


def test_photo_view_is_404_when_the_file_is_gone(client, world, photo):
    default_storage.delete(photo.image.name)
    client.force_login(world.inspector_xincheng)

    response = client.get(reverse("issues:photo", args=[photo.pk]))

    assert response.status_code == 404


def test_photo_files_have_no_public_media_url(client, settings, world, photo):
    client.force_login(world.admin_zone)

    response = client.get(f"{settings.MEDIA_URL}{photo.image.name}")

    assert response.status_code == 404
