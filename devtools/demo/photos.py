"""Drawn stand-ins for field photos: a few shapes, the category name, the place and the time.

Each JPEG carries EXIF capture time and GPS like a phone's photo, so the demo exercises the
same upload path (`issues.photos.prepare_photos`) as a real report.
"""

from __future__ import annotations

import datetime
import io
import random
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 960, 720

# Fonts that can draw Chinese, on Debian (fonts-noto-cjk) and a few other systems.
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)

PALETTES = {
    "before": ((236, 226, 214), (120, 98, 80), (196, 64, 52)),
    "after": ((222, 236, 224), (70, 110, 84), (46, 140, 87)),
    "check": ((221, 231, 242), (64, 92, 130), (44, 98, 170)),
}
KIND_LABELS = {
    "before": ("整改前", "before"),
    "after": ("整改后", "after"),
    "check": ("核查", "verification"),
}

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


@cache
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """A CJK-capable font if the system has one (True), else Pillow's default (False)."""
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).exists():
            try:
                return ImageFont.truetype(candidate, size), True
            except OSError:
                continue
    return ImageFont.load_default(size), False


def _dms(value: Decimal) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    seconds = Fraction((minutes_float - minutes) * 60).limit_denominator(10000)
    return Fraction(degrees), Fraction(minutes), seconds


def _exif(taken_at: datetime.datetime, latitude: Decimal, longitude: Decimal) -> Image.Exif:
    exif = Image.Exif()
    local = taken_at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    exif_ifd = exif.get_ifd(_EXIF_IFD)
    exif_ifd[_DATETIME_ORIGINAL] = local.strftime("%Y:%m:%d %H:%M:%S")
    exif_ifd[_OFFSET_TIME_ORIGINAL] = "+08:00"
    gps = exif.get_ifd(_GPS_IFD)
    gps[1] = "N" if latitude >= 0 else "S"
    gps[2] = _dms(abs(latitude))
    gps[3] = "E" if longitude >= 0 else "W"
    gps[4] = _dms(abs(longitude))
    return exif


def draw_photo(
    *,
    seed: str,
    kind: str,
    title: str,
    title_en: str,
    place: str,
    taken_at: datetime.datetime,
    latitude: Decimal,
    longitude: Decimal,
) -> bytes:
    """A JPEG of a street scene sketch, labelled with the category, the place and the time."""
    # Seeded so the same case draws the same picture every run; not for anything secret.
    rng = random.Random(f"{seed}:{kind}")  # noqa: S311
    background, ink, accent = PALETTES.get(kind, PALETTES["before"])
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)

    # Buildings along the horizon, a road, and some clutter (more of it before the fix).
    horizon = HEIGHT // 2
    x = 0
    while x < WIDTH:
        width = rng.randint(80, 180)
        height = rng.randint(120, 280)
        shade = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in ink)
        draw.rectangle([x, horizon - height, x + width - 8, horizon], fill=shade)
        for wy in range(horizon - height + 16, horizon - 20, 36):
            for wx in range(x + 12, x + width - 24, 28):
                draw.rectangle([wx, wy, wx + 12, wy + 18], fill=background)
        x += width
    draw.rectangle([0, horizon, WIDTH, HEIGHT], fill=(150, 150, 146))
    draw.line([0, horizon + 120, WIDTH, horizon + 120], fill=(240, 240, 240), width=6)
    clutter = rng.randint(6, 10) if kind == "before" else rng.randint(0, 2)
    for _ in range(clutter):
        cx, cy = rng.randint(40, WIDTH - 40), rng.randint(horizon + 30, HEIGHT - 140)
        size = rng.randint(18, 46)
        if rng.random() < 0.5:
            draw.ellipse([cx - size, cy - size // 2, cx + size, cy + size // 2], fill=accent)
        else:
            draw.rectangle([cx - size, cy - size, cx + size, cy], fill=accent, outline=ink)

    # The caption band: category, kind, place and time, like an inspector's watermark.
    font_big, has_cjk = _font(40)
    font_small, _ = _font(26)
    draw.rectangle([0, HEIGHT - 120, WIDTH, HEIGHT], fill=(20, 24, 28))
    label_zh, label_en = KIND_LABELS.get(kind, (kind, kind))
    local = taken_at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    if has_cjk:
        headline = f"{title}  ·  {label_zh}"
        caption = f"{place}   {local:%Y-%m-%d %H:%M}"
    else:  # no CJK font on this machine: English captions rather than boxes
        headline = f"{title_en} - {label_en}"
        caption = f"{local:%Y-%m-%d %H:%M}  {latitude:.5f} N {longitude:.5f} E"
    draw.text((24, HEIGHT - 110), headline, fill=(255, 255, 255), font=font_big)
    draw.text((24, HEIGHT - 54), caption, fill=(210, 214, 218), font=font_small)

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=82, exif=_exif(taken_at, latitude, longitude))
    return buffer.getvalue()
