"""Small geodesy helpers: distances on the sphere and the WGS-84 → GCJ-02 map offset.

Coordinates are stored in WGS-84, as phones report them. Chinese web maps (Amap/高德, Tencent)
draw in GCJ-02, an obfuscated datum shifted by up to a few hundred metres, so a link to such a
map must convert at display time; the stored values never change.
"""

from __future__ import annotations

import math
from decimal import Decimal
from urllib.parse import urlencode

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)

# Krasovsky 1940 ellipsoid, the parameters of the published GCJ-02 transform.
_GCJ_A = 6_378_245.0
_GCJ_EE = 0.006_693_421_622_965_943_23


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lng2 - lng1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def out_of_china(lat: float, lng: float) -> bool:
    """True outside the rough bounding box where GCJ-02 applies (there WGS-84 is used as is)."""
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float | Decimal, lng: float | Decimal) -> tuple[float, float]:
    """Convert a WGS-84 position to GCJ-02 with the standard published transform.

    Outside China the input is returned unchanged, as the Chinese map services expect.
    """
    lat, lng = float(lat), float(lng)
    if out_of_china(lat, lng):
        return lat, lng
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = math.radians(lat)
    magic = 1 - _GCJ_EE * math.sin(radlat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_GCJ_A / sqrt_magic * math.cos(radlat) * math.pi)
    return lat + dlat, lng + dlng


def amap_marker_url(lat: float | Decimal, lng: float | Decimal, name: str = "") -> str:
    """A link that opens Amap (高德) with a marker at a WGS-84 position (converted to GCJ-02)."""
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    query = {
        "position": f"{gcj_lng:.6f},{gcj_lat:.6f}",
        "coordinate": "gaode",
        "callnative": "0",
    }
    if name:
        query["name"] = name
    return "https://uri.amap.com/marker?" + urlencode(query, safe=",")
