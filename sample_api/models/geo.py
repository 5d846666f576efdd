"""Where rows are: points from the synthetic boundaries, and the columns that encode them.

Every row with geography gets a `Placement` from its own draw stream, so a revision
moves a row only when asked to (`RowDataset.apply_revision(moved_rows=...)`, which draws
it a point of another stream, `RowModel.moved_placement`), and the truth
(`boundaries.locate`) is known for every point:
- ~4% of rows have no coordinates (their latitude, longitude, location and x/y keys
  are omitted), though their address fields still name the true ZIP and area;
- ~1% sit exactly on a `boundaries.edge_points()` point, 1e-7 degrees from an edge;
- the rest are `boundaries.random_point` draws.
Of the rows with coordinates, ~2% carry a community_area that disagrees with their
point (another valid area), as the portal's own geocoding sometimes does.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from .. import boundaries, synth
from .common import Draws

P_NO_COORDINATES = 0.04
P_ON_EDGE = 0.01
P_WRONG_AREA = 0.02
N_AREAS = 77


@dataclass(frozen=True)
class Placement:
    """A row's point and its ground truth."""

    lat: float
    lon: float
    has_coordinates: bool  # False: the coordinate keys are omitted
    on_edge: bool  # the point is one of boundaries.edge_points()
    zip: str | None  # boundaries.locate's answers for the point
    area: int | None
    served_area: int | None  # what a community_area column says (≠ area for ~2% of rows)


@cache
def edge_points() -> list[tuple[float, float]]:
    """The edge points inside the city or just outside its border.

    The far-away ones (0, 0 and the like) are left out: they test a geocoder, not a
    dataset, and would drag every map of a dataset to the Gulf of Guinea.
    """
    lat_min, lat_max, lon_min, lon_max = boundaries.EXTENT
    margin = 0.001
    return [(lat, lon) for lat, lon, _, _ in boundaries.edge_points()
            if lat_min - margin <= lat <= lat_max + margin and lon_min - margin <= lon <= lon_max + margin]


@lru_cache(maxsize=1 << 17)  # locate() is ~0.1 ms: a row rendered again must not pay twice
def place(stream: str, seed: int, number: int) -> Placement:
    """The placement of row (or establishment) `number` of a dataset's `stream`."""
    draws = Draws(f"{stream}-place", seed, number)
    has_coordinates = not draws.chance(P_NO_COORDINATES)
    on_edge = has_coordinates and draws.chance(P_ON_EDGE)
    if on_edge:
        lat, lon = draws.choice(edge_points())
    else:
        lat, lon = boundaries.random_point(random.Random(int(draws.random() * 2**52)))
    zip_code, area = boundaries.locate(lat, lon)
    served = area
    if area is not None and has_coordinates and draws.chance(P_WRONG_AREA):
        served = (area - 1 + 1 + draws.below(N_AREAS - 1)) % N_AREAS + 1  # any other area
    return Placement(lat, lon, has_coordinates, on_edge, zip_code, area, served)


def coordinate_text(value: float) -> str:
    """Socrata prints coordinates with up to 9 decimals, trailing zeros dropped."""
    return synth._num(value)


def state_plane(lat: float, lon: float) -> tuple[str, str]:
    """(x, y) in Illinois East state-plane feet, as the portal's x/y coordinate text."""
    x = round(synth._X0 + (lon - synth._LON0) * synth._FT_PER_DEG_LON)
    y = round(synth._Y0 + (lat - synth._LAT0) * synth._FT_PER_DEG_LAT)
    return str(x), str(y)


def point_columns(placement: Placement, *, xy: tuple[str, str] | None = None,
                  location: str = "point", human_address: str = synth.HUMAN_ADDRESS) -> dict[str, Any]:
    """latitude, longitude, location (and x/y under the `xy` column names), or {} without coordinates.

    `location="point"` is a GeoJSON Point with numbers; "location" is the older
    Socrata shape with text coordinates and a JSON-encoded human_address.
    """
    if not placement.has_coordinates:
        return {}
    lat, lon = coordinate_text(placement.lat), coordinate_text(placement.lon)
    out: dict[str, Any] = {}
    if xy is not None:
        out[xy[0]], out[xy[1]] = state_plane(placement.lat, placement.lon)
    out["latitude"], out["longitude"] = lat, lon
    if location == "point":
        out["location"] = {"type": "Point", "coordinates": [float(lon), float(lat)]}
    else:
        out["location"] = {"latitude": lat, "longitude": lon, "human_address": human_address}
    return out


def human_address(address: str, zip_code: str | None) -> str:
    """The JSON text Socrata puts in a location's human_address."""
    return json.dumps({"address": address, "city": "CHICAGO", "state": "IL", "zip": zip_code or ""})


def street(lat: float, lon: float, draws: Draws) -> tuple[str, str, str]:
    """(house number, direction, street name) near the point, on Chicago's address grid.

    Numbers count 800 to the mile from Madison (north/south) and State (east/west).
    """
    if draws.chance(0.5):  # a north/south street: the number grows away from Madison
        name = draws.choice(synth.NS_STREETS)
        direction = "S" if lat < 41.882 else "N"
        number = int(abs(lat - 41.882) * 5520)
    else:  # an east/west street: the number grows away from State
        name = draws.choice(synth.EW_STREETS)
        direction = "W" if lon < -87.6278 else "E"
        number = int(abs(lon + 87.6278) * 4110)
    return str(max(1, number)), direction, name


def police_district(lat: float, lon: float) -> int:
    """The district whose (approximate) centroid is nearest."""
    return min(synth.DISTRICTS, key=lambda d: (d[1] - lat) ** 2 + ((d[2] - lon) * 0.75) ** 2)[0]
