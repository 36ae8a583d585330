"""Photo uploads: recognised by content, capped before decoding, stored re-encoded without metadata.

`prepare_photos` runs before any transaction (decoding is slow and may fail); it returns
`PreparedPhoto` values holding a fresh JPEG made only from decoded pixels, so whatever rode along
in the upload (EXIF GPS, an HTML tail, a polyglot) never reaches storage. Capture time and GPS
are read from EXIF first and kept in fields. `attach_photos` then writes the files and the rows
inside the calling service's transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import math
import posixpath
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from PIL import ExifTags, Image, ImageOps

from issues.models import Issue, IssueEvent, Photo

try:  # LittleCMS ships in Pillow's wheels; without it colours are kept as they are.
    from PIL import ImageCms
except ImportError:  # pragma: no cover
    ImageCms = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# The longest side of the stored photo and of its thumbnail, in pixels.
STORED_LONGEST_SIDE = 2560
THUMBNAIL_LONGEST_SIDE = 480
STORED_QUALITY = 85
THUMBNAIL_QUALITY = 80

# Only these openers are tried: Pillow never even attempts formats with risky decoders
# (EPS runs Ghostscript) or ones we refuse (GIF, PDF, SVG is not an image to Pillow at all).
OPENERS = ("JPEG", "PNG", "WEBP", "HEIF")
# Detected format -> what we record. Many cameras write JPEG with a multi-picture index (MPO).
ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "HEIF"}

_EXIF_DATETIME_ORIGINAL = 0x9003
_EXIF_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LATITUDE_REF = 1
_GPS_LATITUDE = 2
_GPS_LONGITUDE_REF = 3
_GPS_LONGITUDE = 4
_SIX_PLACES = Decimal("0.000001")

UNREADABLE = _(
    "“%(name)s” is not a photo we can read. Upload a JPEG, PNG, WebP or HEIC (iPhone) image."
)


@dataclass(frozen=True)
class PreparedPhoto:
    """A validated upload, re-encoded as JPEG without metadata, ready for `attach_photos`."""

    content: bytes = field(repr=False)  # the stored JPEG: decoded pixels only, no EXIF, no ICC
    thumbnail: bytes = field(repr=False)  # a small JPEG for lists, also without metadata
    width: int  # of the stored JPEG, after orientation and downscaling
    height: int
    size: int  # bytes of the stored JPEG
    sha256: str  # of the upload as received, to spot the same photo sent twice
    original_name: str
    original_format: str  # JPEG, PNG, WEBP or HEIF, as detected from the content
    taken_at: datetime.datetime | None
    gps_latitude: Decimal | None
    gps_longitude: Decimal | None


def prepare_photos(uploads: Sequence[UploadedFile]) -> list[PreparedPhoto]:
    """Validate, decode and re-encode uploads; raise ValidationError naming each refused file."""
    maximum = settings.PHOTO_MAX_PER_UPLOAD
    if len(uploads) > maximum:
        raise ValidationError(
            ngettext_lazy(
                "You can upload at most %(max)d photo at a time; you chose %(count)d.",
                "You can upload at most %(max)d photos at a time; you chose %(count)d.",
                "max",
            ),
            code="too_many_photos",
            params={"max": maximum, "count": len(uploads)},
        )
    prepared: list[PreparedPhoto] = []
    errors: list[ValidationError] = []
    for upload in uploads:
        try:
            prepared.append(_prepare_one(upload))
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise ValidationError(errors)
    return prepared


def attach_photos(
    *,
    issue: Issue,
    kind: str,
    photos: Sequence[PreparedPhoto],
    uploaded_by: Any,
    event: IssueEvent | None = None,
) -> list[Photo]:
    """Write prepared photos to storage and record them; call inside the service's transaction."""
    kind = Photo.Kind(kind)
    rows: list[Photo] = []
    written: list[str] = []
    try:
        for prepared in photos:
            row = Photo(
                issue=issue,
                event=event,
                kind=kind,
                width=prepared.width,
                height=prepared.height,
                size_bytes=prepared.size,
                sha256=prepared.sha256,
                original_name=prepared.original_name,
                original_format=prepared.original_format,
                taken_at=prepared.taken_at,
                gps_latitude=prepared.gps_latitude,
                gps_longitude=prepared.gps_longitude,
                uploaded_by=uploaded_by,
            )
            # The names come from the model's upload_to (random, .jpg); the upload's name is
            # never part of a path.
            row.image.save("photo.jpg", ContentFile(prepared.content), save=False)
            written.append(row.image.name)
            row.thumbnail.save("thumbnail.jpg", ContentFile(prepared.thumbnail), save=False)
            written.append(row.thumbnail.name)
            rows.append(row)
        return Photo.objects.bulk_create(rows)
    except BaseException:
        # Files of a failed attach would be orphans; a rollback after we return still leaves
        # some, but they sit under random names outside any public URL.
        for name in written:
            default_storage.delete(name)
        raise


def _prepare_one(upload: UploadedFile) -> PreparedPhoto:
    name = _display_name(upload)
    data = _read_capped(upload, name)
    max_pixels = settings.PHOTO_MAX_PIXELS
    # Pillow's own bomb guard reads this global; set to our cap, it also covers images that
    # Pillow opens on its own (frames, embedded images), and its warning is an error below.
    Image.MAX_IMAGE_PIXELS = max_pixels
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=OPENERS) as image:
                return _convert(image, data=data, name=name, max_pixels=max_pixels)
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_many_pixels(name, max_pixels) from error
    except Exception as error:
        # Parsers of hostile input fail in many ways (OSError, SyntaxError, struct.error...);
        # every one of them means "not a photo we can read".
        logger.info("Refused upload %r: %s", name, error)
        raise ValidationError(UNREADABLE, code="unreadable", params={"name": name}) from error


def _convert(image: Image.Image, *, data: bytes, name: str, max_pixels: int) -> PreparedPhoto:
    detected = ACCEPTED_FORMATS.get(image.format or "")
    if detected is None:
        raise ValidationError(UNREADABLE, code="unreadable", params={"name": name})
    width, height = image.size
    # Header only so far: refuse before a single pixel is decoded.
    if width < 1 or height < 1 or width * height > max_pixels:
        raise _too_many_pixels(name, max_pixels)
    taken_at, latitude, longitude = _read_exif(image)
    icc_profile = image.info.get("icc_profile")
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result is still big enough.
        scale = STORED_LONGEST_SIDE / max(width, height)
        if scale < 1:
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    pixels = _to_srgb(_shrink_early(image), icc_profile)
    # One resize chain, each step a new image: the stored copy from the decoded pixels, the
    # thumbnail from the stored copy. The stored copy is an area average (box), not Lanczos or
    # bilinear: after the reduced DCT decode at most a 2x reduction is left, where averaging
    # the pixels each output pixel covers looks the same and costs least; on a 12 MP photo the
    # resize was the largest part of a report (CPU ms on this machine: Lanczos 305, bilinear
    # 104, box 79).
    stored = pixels.resize(
        _fitted(pixels.size, STORED_LONGEST_SIDE), Image.Resampling.BOX, reducing_gap=3.0
    )
    # resize() makes a new image (a copy when the size fits) but copies the info dict: emptied,
    # nothing of the upload (EXIF, ICC, XMP, comments) rides along, and the encoder is given
    # none either. (A copy through raw bytes did the same for 12 ms more of a 12 MP report.)
    stored.info = {}
    # Baseline, not progressive: progressive encoding of 5 MP cost 160 ms CPU against 60 ms
    # for 6 % more bytes; lists show the (progressive) thumbnail, the photo opens on a tap. Nor
    # optimised Huffman tables: their second pass doubled the encode (36 against 16 ms CPU at
    # 5 MP) for 5 % fewer bytes, on a photo opened one tap at a time.
    content = _encode_jpeg(stored, STORED_QUALITY, progressive=False, optimize=False)
    # The thumbnail comes from the stored copy, never the original: the largest whole box
    # reduction that keeps it above the thumbnail's size (reducing_gap 1), then Lanczos over
    # the few pixels left (CPU ms: 22 with a 2x reduction first, 9 with 5x).
    small = stored.resize(
        _fitted(stored.size, THUMBNAIL_LONGEST_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0
    )
    return PreparedPhoto(
        content=content,
        thumbnail=_encode_jpeg(small, THUMBNAIL_QUALITY),
        width=stored.width,
        height=stored.height,
        size=len(content),
        sha256=hashlib.sha256(data).hexdigest(),
        original_name=name,
        original_format=detected,
        taken_at=taken_at,
        gps_latitude=latitude,
        gps_longitude=longitude,
    )


def _fitted(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The size `Image.thumbnail((longest, longest))` gives an image of `size`: within the
    square, the aspect ratio kept as closely as whole pixels allow, never enlarged."""
    width, height = size
    if width <= longest and height <= longest:
        return size
    aspect = width / height

    def rounded(number: float, error: Any) -> int:
        return max(min(math.floor(number), math.ceil(number), key=error), 1)

    if aspect >= 1:
        return longest, rounded(
            longest / aspect, lambda n: 0 if n == 0 else abs(aspect - longest / n)
        )
    return rounded(longest * aspect, lambda n: abs(aspect - n / longest)), longest


def _shrink_early(image: Image.Image) -> Image.Image:
    """Cheaply cut a big decoded image down before the copies that colour conversion makes."""
    factor = max(image.size) // (STORED_LONGEST_SIDE * 2)
    # Image.reduce handles only these modes; others are rare (palette, 16-bit) and go on as is.
    if factor >= 2 and image.mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image.reduce(factor)
    return image


def _display_name(upload: UploadedFile) -> str:
    # Browsers on some systems send a full path; keep the last part, within the model's limit.
    raw = (upload.name or "").replace("\\", "/")
    return posixpath.basename(raw).strip()[:200] or "photo"


def _read_capped(upload: UploadedFile, name: str) -> bytes:
    """The upload's bytes, refusing it as soon as it is known to exceed PHOTO_MAX_BYTES."""
    max_bytes = settings.PHOTO_MAX_BYTES
    if upload.size is not None and upload.size > max_bytes:
        raise _too_big(name, max_bytes)
    upload.seek(0)
    # The declared size may lie (or be missing); never read more than one byte past the cap.
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_big(name, max_bytes)
    if not data:
        raise ValidationError(_("“%(name)s” is empty."), code="empty_photo", params={"name": name})
    return data


def _too_big(name: str, max_bytes: int) -> ValidationError:
    return ValidationError(
        _("“%(name)s” is too large: photos may be at most %(max)s MB."),
        code="photo_too_large",
        params={"name": name, "max": f"{max_bytes / (1024 * 1024):g}"},
    )


def _too_many_pixels(name: str, max_pixels: int) -> ValidationError:
    return ValidationError(
        _("“%(name)s” has too many pixels: photos may have at most %(max)s megapixels."),
        code="photo_too_many_pixels",
        params={"name": name, "max": f"{max_pixels / 1_000_000:g}"},
    )


@cache
def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (iPhone photos), once per process."""
    import pillow_heif

    # Embedded thumbnails are never used; not reading them is less work on hostile input.
    pillow_heif.register_heif_opener(thumbnails=False)


def _encode_jpeg(
    image: Image.Image, quality: int, *, progressive: bool = True, optimize: bool = True
) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=optimize, progressive=progressive)
    return buffer.getvalue()


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Plain 8-bit RGB in sRGB: transparency flattened on white, colour profiles applied."""
    profile = _icc(icc_profile)
    if image.mode == "CMYK" and profile is not None:
        converted = _apply_profile(image, profile)
        if converted is not None:
            return converted
        profile = None
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit or float greyscale: scale into 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        # Transparent areas would turn black in a JPEG; white reads as "nothing there".
        flattened = Image.new("RGB", rgba.size, (255, 255, 255))
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        image = flattened
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if profile is not None:
        converted = _apply_profile(image, profile)
        if converted is not None:
            return converted
    return image


def _icc(icc_profile: bytes | None) -> Any:
    if not icc_profile or ImageCms is None:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    except Exception:  # a broken profile only costs colour accuracy
        return None


def _apply_profile(image: Image.Image, profile: Any) -> Image.Image | None:
    # Phones shoot in Display P3 and cameras may embed Adobe RGB; the stored JPEG has no profile,
    # so viewers assume sRGB, and the pixels must be converted to match.
    try:
        return ImageCms.profileToProfile(
            image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except Exception:  # a profile that does not fit the pixels: keep them unconverted
        return None


def _read_exif(
    image: Image.Image,
) -> tuple[datetime.datetime | None, Decimal | None, Decimal | None]:
    """Capture time and GPS position from EXIF; malformed metadata is ignored, not fatal."""
    try:
        exif = image.getexif()
    except Exception:
        return None, None, None
    try:
        details = exif.get_ifd(ExifTags.IFD.Exif)
        taken_at = _parse_taken_at(
            details.get(_EXIF_DATETIME_ORIGINAL), details.get(_EXIF_OFFSET_TIME_ORIGINAL)
        )
    except Exception:
        taken_at = None
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        latitude = _gps_coordinate(gps.get(_GPS_LATITUDE), gps.get(_GPS_LATITUDE_REF), "NS", 90)
        longitude = _gps_coordinate(gps.get(_GPS_LONGITUDE), gps.get(_GPS_LONGITUDE_REF), "EW", 180)
    except Exception:
        latitude = longitude = None
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        # Half a position is no position; 0,0 is what some phones write without a fix.
        latitude = longitude = None
    return taken_at, latitude, longitude


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip("\x00 ")


def _parse_taken_at(value: Any, offset: Any) -> datetime.datetime | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" with its offset, or else in the zone's local time."""
    text = _text(value)[:19]
    try:
        naive = datetime.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None
    offset_text = _text(offset)
    if offset_text:
        try:
            aware = datetime.datetime.fromisoformat(f"{naive.isoformat()}{offset_text}")
        except ValueError:
            aware = None
        if aware is not None and aware.tzinfo is not None:
            return aware
    # Cameras write wall-clock time without a zone; the photo was taken where the zone is.
    return timezone.make_aware(naive, timezone.get_default_timezone())


def _gps_coordinate(value: Any, reference: Any, refs: str, limit: int) -> Decimal | None:
    """Degrees from EXIF degrees/minutes/seconds rationals, negative for S and W."""
    if value is None:
        return None
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    degrees = Fraction(0)
    for part, divisor in zip(parts, (1, 60, 3600), strict=False):
        number = _fraction(part)
        if number is None or number < 0:
            return None
        degrees += number / divisor
    if degrees > limit:
        return None
    ref = _text(reference).upper()[:1]
    if ref == refs[1]:
        degrees = -degrees
    elif ref and ref != refs[0]:
        return None
    return (Decimal(degrees.numerator) / Decimal(degrees.denominator)).quantize(
        _SIX_PLACES, rounding=ROUND_HALF_UP
    )


def _fraction(part: Any) -> Fraction | None:
    numerator = getattr(part, "numerator", None)
    denominator = getattr(part, "denominator", None)
    if isinstance(part, tuple) and len(part) == 2:
        numerator, denominator = part
    try:
        if numerator is not None and denominator is not None:
            if not denominator:
                return None
            return Fraction(numerator) / Fraction(denominator)
        number = float(part)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    if not math.isfinite(number):
        return None
    return Fraction(number)
