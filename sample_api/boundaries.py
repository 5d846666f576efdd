"""Synthetic Chicago boundary layers (77 community areas, 59 ZIP codes) with exact answers.

Each layer is a warped grid over the same rectangle (`EXTENT`): its internal lines are
zigzag polylines, so a bounding-box test is not enough, and every edge is drawn once
and shared by both neighbours, so the tiling has no gaps or overlaps. The two layers
use different grids (10x8 and 7x9 cells), so their edges never line up.

The zigzags are built so that `locate` can answer analytically: a horizontal line is
flat (constant latitude) in a band around every vertical line, and a vertical line is
flat around every horizontal one, so each pair crosses exactly once, at the grid node.
A point's row is then the number of horizontal lines below it and its column the
number of vertical lines left of it, with no generic point-in-polygon test. That keeps
this module an independent ground truth for the shapely geocoder.

A few cells more than names: the spare cells become second, detached parts of some
features, so those are true MultiPolygons (like O'Hare's airport strip).

Pure Python and deterministic: no randomness in the geometry.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from functools import cache

# (lat_min, lat_max, lon_min, lon_max): roughly the city's bounding box, rounded.
EXTENT: tuple[float, float, float, float] = (41.64, 42.03, -87.94, -87.52)
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = EXTENT

# The same 77 names as dbt_project/seeds/chicago_community_areas.csv, in number order.
COMMUNITY_AREA_NAMES: tuple[str, ...] = (
    "Rogers Park", "West Ridge", "Uptown", "Lincoln Square", "North Center", "Lake View",
    "Lincoln Park", "Near North Side", "Edison Park", "Norwood Park", "Jefferson Park",
    "Forest Glen", "North Park", "Albany Park", "Portage Park", "Irving Park", "Dunning",
    "Montclare", "Belmont Cragin", "Hermosa", "Avondale", "Logan Square", "Humboldt Park",
    "West Town", "Austin", "West Garfield Park", "East Garfield Park", "Near West Side",
    "North Lawndale", "South Lawndale", "Lower West Side", "Loop", "Near South Side",
    "Armour Square", "Douglas", "Oakland", "Fuller Park", "Grand Boulevard", "Kenwood",
    "Washington Park", "Hyde Park", "Woodlawn", "South Shore", "Chatham", "Avalon Park",
    "South Chicago", "Burnside", "Calumet Heights", "Roseland", "Pullman", "South Deering",
    "East Side", "West Pullman", "Riverdale", "Hegewisch", "Garfield Ridge", "Archer Heights",
    "Brighton Park", "McKinley Park", "Bridgeport", "New City", "West Elsdon", "Gage Park",
    "Clearing", "West Lawn", "Chicago Lawn", "West Englewood", "Englewood",
    "Greater Grand Crossing", "Ashburn", "Auburn Gresham", "Beverly", "Washington Heights",
    "Mount Greenwood", "Morgan Park", "O'Hare", "Edgewater",
)

# 59 real Chicago ZIP codes.
ZIP_CODES: tuple[str, ...] = (
    *(str(z) for z in range(60601, 60627)),
    *(str(z) for z in range(60628, 60635)),
    *(str(z) for z in range(60636, 60648)),
    "60649",
    *(str(z) for z in range(60651, 60658)),
    "60659", "60660", "60661", "60666", "60707", "60827",
)

EDGE_OFFSET = 1e-7  # degrees between an edge point and its edge (about 1 cm)
_SEGMENTS_PER_CELL_SIDE = 5  # flat, zig, zag, zig, flat: vertices at 0, w, 1/3, 2/3, 1-w
# Feet per degree near 41.84N, so shape_area / shape_len look like the portal's (ft², ft).
_FEET_PER_DEGREE_LAT = 364_000.0
_FEET_PER_DEGREE_LON = _FEET_PER_DEGREE_LAT * math.cos(math.radians(41.84))

Point = tuple[float, float]  # (lon, lat), GeoJSON order


def _round(value: float) -> float:
    return round(value, 9)


class _WarpedGrid:
    """A rows x cols grid over EXTENT whose internal lines zigzag; row 0 is the south."""

    def __init__(self, rows: int, cols: int, pattern: int, labels: dict[tuple[int, int], str]):
        self.rows, self.cols, self.labels = rows, cols, labels
        self.lats = [_round(LAT_MIN + (LAT_MAX - LAT_MIN) * j / rows) for j in range(rows + 1)]
        self.lons = [_round(LON_MIN + (LON_MAX - LON_MIN) * i / cols) for i in range(cols + 1)]
        cell_lat, cell_lon = self.lats[1] - self.lats[0], self.lons[1] - self.lons[0]
        # Amplitude < flat band: a line's zigzag never leaves the band where the
        # crossing line is flat, so every crossing is exactly at a grid node.
        self.horizontal = [
            [(t, v) for t, v in _zigzag(self.lons, self.lats[j], 0.1 * cell_lat if 0 < j < rows else 0,
                                        0.15 * cell_lon, j + pattern)]
            for j in range(rows + 1)
        ]
        self.vertical = [
            [(v, t) for t, v in _zigzag(self.lats, self.lons[i], 0.1 * cell_lon if 0 < i < cols else 0,
                                        0.15 * cell_lat, i + 2 * pattern)]
            for i in range(cols + 1)
        ]
        # Each internal line as (positions along it, its other coordinate), built once:
        # locate() runs per served row, and rebuilding them per call made it 5x slower.
        self._h = [_Line.along(line, 0) for line in self.horizontal[1:-1]]
        self._v = [_Line.along(line, 1) for line in self.vertical[1:-1]]

    def ring(self, row: int, col: int) -> list[Point]:
        """The cell's closed exterior ring, counter-clockwise: south, east, north, west."""
        n = _SEGMENTS_PER_CELL_SIDE
        south = self.horizontal[row][n * col: n * col + n + 1]
        east = self.vertical[col + 1][n * row + 1: n * row + n + 1]
        north = self.horizontal[row + 1][n * col: n * col + n][::-1]
        west = self.vertical[col][n * row + 1: n * row + n][::-1]
        ring = [*south, *east, *north, *west]
        return [*ring, ring[0]]

    def cell(self, lat: float, lon: float) -> tuple[int, int] | None:
        """(row, col) of the cell holding the point; a point on an edge goes south / west."""
        if not (LAT_MIN < lat < LAT_MAX and LON_MIN < lon < LON_MAX):
            return None
        # Lines never cross: those below (west of) the point are a prefix, found by bisection.
        return _count_below(self._h, lon, lat), _count_below(self._v, lat, lon)

    def label(self, lat: float, lon: float) -> str | None:
        cell = self.cell(lat, lon)
        return None if cell is None else self.labels[cell]

    def internal_segments(self) -> list[tuple[Point, Point, bool]]:
        """Every segment of an internal line, with True when the line is horizontal."""
        segments = []
        for lines, is_horizontal in ((self.horizontal, True), (self.vertical, False)):
            for line in lines[1:-1]:
                segments += [(a, b, is_horizontal) for a, b in zip(line, line[1:], strict=False)]
        return segments

    def internal_nodes(self) -> list[Point]:
        return [(lon, lat) for lat in self.lats[1:-1] for lon in self.lons[1:-1]]


def _zigzag(knots: list[float], base: float, amplitude: float, flat: float, phase: int):
    """Vertices (t, v) of a line v ≈ base running through every knot, flat near each knot.

    Between two knots the line leaves the flat band, makes one of three shapes (up-down,
    down-up, plateau) chosen by the position, and comes back to `base`.
    """
    shapes = ((1.0, -0.5), (-1.0, 0.5), (0.6, 0.6))
    vertices = []
    for k, (start, stop) in enumerate(zip(knots, knots[1:], strict=False)):
        first, second = shapes[(phase + k) % 3]
        inner = stop - start - 2 * flat
        vertices += [
            (start, base),
            (_round(start + flat), base),
            (_round(start + flat + inner / 3), _round(base + first * amplitude)),
            (_round(start + flat + 2 * inner / 3), _round(base + second * amplitude)),
            (_round(stop - flat), base),
        ]
    return [*vertices, (knots[-1], base)]


class _Line:
    """A zigzag line as two coordinate lists: `ts` along the axis, `vs` across it."""

    __slots__ = ("ts", "vs")

    def __init__(self, ts: list[float], vs: list[float]) -> None:
        self.ts, self.vs = ts, vs

    @classmethod
    def along(cls, line: list[Point], axis: int) -> _Line:
        """`axis` 0: a line running west-east (t = lon); 1: south-north (t = lat)."""
        return cls([v[axis] for v in line], [v[1 - axis] for v in line])

    def at(self, t: float) -> float:
        """The line's other coordinate at `t`, linear between vertices."""
        ts, vs = self.ts, self.vs
        k = min(max(bisect_right(ts, t) - 1, 0), len(ts) - 2)
        return vs[k] + (vs[k + 1] - vs[k]) * (t - ts[k]) / (ts[k + 1] - ts[k])


def _count_below(lines: list[_Line], t: float, v: float) -> int:
    """How many of the ordered, non-crossing `lines` pass strictly below `v` at `t`."""
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi) // 2
        if v > lines[mid].at(t):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _assign(rows: int, cols: int, names: tuple[str, ...], second_parts: dict[tuple[int, int], int]):
    """Label cells north to south, west to east; `second_parts` maps a spare cell to a name index."""
    labels, names_left = {}, iter(names)
    for row in reversed(range(rows)):
        for col in range(cols):
            labels[(row, col)] = (names[second_parts[(row, col)]] if (row, col) in second_parts
                                  else next(names_left))
    return labels


@cache
def _community_grid() -> _WarpedGrid:
    numbers = tuple(str(n) for n in range(1, 78))
    # 80 cells, 77 areas: O'Hare (76), Edison Park (9) and Riverdale (54) get a second part.
    second_parts = {(9, 0): 75, (4, 7): 8, (2, 1): 53}
    return _WarpedGrid(10, 8, 0, _assign(10, 8, numbers, second_parts))


@cache
def _zip_grid() -> _WarpedGrid:
    # 63 cells, 59 ZIP codes: four of them get a second part.
    second_parts = {(6, 8): ZIP_CODES.index("60666"), (3, 0): ZIP_CODES.index("60707"),
                    (1, 6): ZIP_CODES.index("60827"), (4, 4): ZIP_CODES.index("60615")}
    return _WarpedGrid(7, 9, 1, _assign(7, 9, ZIP_CODES, second_parts))


def _multipolygon(grid: _WarpedGrid, label: str) -> list[list[Point]]:
    return [grid.ring(row, col) for (row, col), owner in sorted(grid.labels.items()) if owner == label]


def _geometry(rings: list[list[Point]]) -> dict:
    return {"type": "MultiPolygon", "coordinates": [[[list(p) for p in ring]] for ring in rings]}


def _shape_area_len(rings: list[list[Point]]) -> tuple[str, str]:
    """Shoelace area and perimeter in feet, formatted like the portal's strings."""
    area = length = 0.0
    for ring in rings:
        feet = [((lon - LON_MIN) * _FEET_PER_DEGREE_LON, (lat - LAT_MIN) * _FEET_PER_DEGREE_LAT)
                for lon, lat in ring]
        for (x0, y0), (x1, y1) in zip(feet, feet[1:], strict=False):
            area += (x0 * y1 - x1 * y0) / 2
            length += math.hypot(x1 - x0, y1 - y0)
    return f"{area:.4f}", f"{length:.4f}"


def community_area_features() -> list[dict]:
    """GeoJSON features shaped like the portal's community-area export (igwz-8jzy)."""
    features = []
    for number, name in enumerate(COMMUNITY_AREA_NAMES, start=1):
        rings = _multipolygon(_community_grid(), str(number))
        shape_area, shape_len = _shape_area_len(rings)
        properties = {"area_numbe": str(number), "community": name.upper(), "area_num_1": str(number),
                      "shape_area": shape_area, "shape_len": shape_len}
        features.append({"type": "Feature", "properties": properties, "geometry": _geometry(rings)})
    return features


def zip_code_features() -> list[dict]:
    """GeoJSON features shaped like the portal's ZIP-code export (unjd-c2ca)."""
    features = []
    for objectid, zip_code in enumerate(ZIP_CODES, start=1):
        rings = _multipolygon(_zip_grid(), zip_code)
        shape_area, shape_len = _shape_area_len(rings)
        properties = {"zip": zip_code, "objectid": str(objectid), "shape_area": shape_area,
                      "shape_len": shape_len}
        features.append({"type": "Feature", "properties": properties, "geometry": _geometry(rings)})
    return features


def locate(lat: float, lon: float) -> tuple[str | None, int | None]:
    """(ZIP code, community area number) of a point, from the grid construction.

    None, None outside the extent (or on its border). A point exactly on an internal
    edge is given to the cell south or west of it; no generator here produces one.
    """
    area = _community_grid().label(lat, lon)
    return _zip_grid().label(lat, lon), None if area is None else int(area)


def random_point(rng: random.Random) -> tuple[float, float]:
    """(lat, lon) uniform inside the extent, 9 decimals like the portal."""
    while True:
        lat, lon = _round(rng.uniform(LAT_MIN, LAT_MAX)), _round(rng.uniform(LON_MIN, LON_MAX))
        if LAT_MIN < lat < LAT_MAX and LON_MIN < lon < LON_MAX:
            return lat, lon


def edge_points() -> list[tuple[float, float, str | None, int | None]]:
    """(lat, lon, zip, area) test points about 1e-7 degrees from a boundary.

    Both sides of a point of every internal edge segment of both layers, the four
    diagonal neighbours of every grid node, and points just outside the extent.
    """
    points: list[tuple[float, float]] = []
    for grid in (_community_grid(), _zip_grid()):
        for (lon0, lat0), (lon1, lat1), is_horizontal in grid.internal_segments():
            # 0.4 along, not the midpoint: a midpoint can fall on the other layer's edge.
            lat, lon = lat0 + 0.4 * (lat1 - lat0), lon0 + 0.4 * (lon1 - lon0)
            for side in (-EDGE_OFFSET, EDGE_OFFSET):
                points.append((lat + side, lon) if is_horizontal else (lat, lon + side))
        for lon, lat in grid.internal_nodes():
            points += [(lat + dlat, lon + dlon) for dlat in (-EDGE_OFFSET, EDGE_OFFSET)
                       for dlon in (-EDGE_OFFSET, EDGE_OFFSET)]
    mid_lat, mid_lon = (LAT_MIN + LAT_MAX) / 2, (LON_MIN + LON_MAX) / 2
    outside = [
        (LAT_MIN - EDGE_OFFSET, mid_lon), (LAT_MAX + EDGE_OFFSET, mid_lon),
        (mid_lat, LON_MIN - EDGE_OFFSET), (mid_lat, LON_MAX + EDGE_OFFSET),
        (LAT_MIN, mid_lon), (mid_lat, LON_MAX),  # on the outer border: outside too
        (LAT_MAX + EDGE_OFFSET, LON_MAX + EDGE_OFFSET), (0.0, 0.0), (41.0, -87.7), (42.5, -88.5),
    ]
    rounded = [(_round(lat), _round(lon)) for lat, lon in [*points, *outside]]
    return [(lat, lon, *locate(lat, lon)) for lat, lon in rounded]
