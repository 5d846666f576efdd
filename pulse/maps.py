"""Choropleth maps as SVG: Chicago's community areas or ZIP codes, each shaded by a report's
measure, drawn when the report is exported from the outlines Pulse already loads
(`marts.dim_chicago__boundaries`, GeoJSON in longitude and latitude).

The projection is the plain one a city needs: longitude scaled by the cosine of the middle
latitude, so the map keeps its shape at Chicago's 42 degrees north. Classes are quantiles
(five shades at most), so a few very large areas do not leave every other one pale.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulse.charts import empty_chart, number_text

log = logging.getLogger(__name__)

BOUNDARIES = "dim_chicago__boundaries"
LAYERS = ("community_area", "zip_code")
MAP_HEIGHT = 560  # the viewBox's height; its width follows the layer's shape
MIN_STEP = 1.0  # viewBox units between the points of an outline
LEGEND_WIDTH = 190
# ColorBrewer's sequential Blues, light to dark; areas without a value are grey.
SHADES = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
NO_VALUE = "#f2f2f2"


@dataclass(frozen=True)
class Area:
    key: str  # the community area's number or the ZIP code, as text
    name: str
    polygons: tuple[tuple[tuple[tuple[float, float], ...], ...], ...]  # polygon -> ring -> (lon, lat)


def area_key(value: Any) -> str | None:
    """A report's community_area_number (25, 25.0, Decimal('25')) or zip_code, as the
    boundaries spell their key."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float | int) or type(value).__name__ == "Decimal":
        number = float(value)
        return str(int(number)) if number.is_integer() else str(value)
    return str(value).strip()


def areas_from_geojson(rows: Sequence[tuple[str, str, Any]]) -> dict[str, Area]:
    """(area_key, area_name, GeoJSON geometry as dict or text) rows -> areas by key; a
    geometry that is not a (Multi)Polygon is skipped."""
    areas = {}
    for key, name, geometry in rows:
        if isinstance(geometry, str | bytes):
            geometry = json.loads(geometry)
        if not isinstance(geometry, dict):
            continue
        kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
        polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" else []
        shaped = tuple(tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in polygon)
                       for polygon in polygons)
        if shaped:
            areas[str(key)] = Area(str(key), str(name or key), shaped)
    return areas


def read_areas(conn, schema: str, layer: str) -> dict[str, Area]:
    """The outlines of `layer` from the boundaries mart, read as `conn` (a
    warehouse.Connection: the analyst's); none (the map says so) when the mart is not
    built or not readable yet: a missing map must not stop a report."""
    import psycopg2
    from psycopg2 import sql

    if layer not in LAYERS:
        raise ValueError(f"map layer {layer!r}: use {' or '.join(LAYERS)}")
    relation = sql.Identifier(schema, BOUNDARIES)
    try:
        pg = psycopg2.connect(conn.url())
        try:
            with pg, pg.cursor() as cur:
                cur.execute("select to_regclass(%s)", (relation.as_string(cur),))
                if cur.fetchone()[0] is None:
                    log.warning("maps: %s.%s is not built (or not readable as %s): its maps "
                                "show no areas until `pulse build`", schema, BOUNDARIES, conn.user)
                    return {}
                cur.execute(sql.SQL("select area_key, area_name, boundary from {} "
                                    "where layer = %s").format(relation), (layer,))
                rows = cur.fetchall()
        finally:
            pg.close()
    except psycopg2.Error as err:
        log.warning("maps: reading %s.%s as %s failed: %s", schema, BOUNDARIES, conn.user,
                    (err.pgerror or str(err)).strip().splitlines()[0])
        return {}
    return areas_from_geojson(rows)


def quantile_breaks(values: Sequence[float], classes: int = len(SHADES)) -> list[float]:
    """The upper bounds of up to `classes` classes holding about as many values each."""
    ordered = sorted(values)
    if not ordered:
        return []
    breaks = []
    for i in range(1, classes + 1):
        bound = ordered[min(len(ordered) - 1, math.ceil(i * len(ordered) / classes) - 1)]
        if not breaks or bound > breaks[-1]:
            breaks.append(bound)
    return breaks


def shade(value: float | None, breaks: Sequence[float]) -> str:
    if value is None:
        return NO_VALUE
    for i, bound in enumerate(breaks):
        if value <= bound:
            # spread the classes over the whole ramp: 2 classes are the lightest and darkest
            step = (len(SHADES) - 1) / max(1, len(breaks) - 1)
            return SHADES[round(i * step)]
    return SHADES[-1]


def choropleth(title: str, areas: Mapping[str, Area], values: Mapping[str, float],
               unit: str = "") -> str:
    """Every area of the layer, shaded by its value (grey without one), a legend beside it."""
    if not areas:
        return empty_chart(f"{title}: no boundaries loaded yet")
    points = [p for a in areas.values() for polygon in a.polygons for ring in polygon for p in ring]
    lon_min, lon_max = min(p[0] for p in points), max(p[0] for p in points)
    lat_min, lat_max = min(p[1] for p in points), max(p[1] for p in points)
    squeeze = math.cos(math.radians((lat_min + lat_max) / 2))
    span_x, span_y = (lon_max - lon_min) * squeeze or 1e-9, (lat_max - lat_min) or 1e-9
    scale = (MAP_HEIGHT - 20) / span_y
    map_width = span_x * scale + 20

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return 10 + (lon - lon_min) * squeeze * scale, 10 + (lat_max - lat) * scale

    breaks = quantile_breaks(list(values.values()))
    parts = []
    for key, area in sorted(areas.items()):
        value = values.get(key)
        label = f"{area.name} ({key})" if area.name != key else key
        shown = "no rows" if value is None else f"{number_text(value)}{unit}"
        parts.append(f'<path class="mark" d="{_path(area, xy)}" fill="{shade(value, breaks)}" '
                     f'stroke="#ffffff" stroke-width="0.8" fill-rule="evenodd">'
                     f'<title>{html.escape(label)}: {html.escape(shown)}</title></path>')
    parts.append(_legend(breaks, values, unit, map_width + 12))
    width = math.ceil(map_width + LEGEND_WIDTH)
    t = html.escape(title)
    return (f'<svg class="chart map" viewBox="0 0 {width} {MAP_HEIGHT}" role="img" '
            f'aria-label="{t}" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="system-ui, sans-serif" font-size="12"><title>{t}</title>'
            f'{"".join(parts)}</svg>')


def _path(area: Area, xy) -> str:
    """The SVG path of every ring, a point kept only a unit (about a screen pixel) or more
    from the last: the city's exports carry thousands of points an area, a map needs few."""
    out = []
    for polygon in area.polygons:
        for ring in polygon:
            kept: list[tuple[float, float]] = []
            for lon, lat in ring:
                x, y = xy(lon, lat)
                if not kept or abs(x - kept[-1][0]) + abs(y - kept[-1][1]) >= MIN_STEP:
                    kept.append((x, y))
            if len(kept) >= 3:
                out.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in kept) + "Z")
    return "".join(out)


def _legend(breaks: Sequence[float], values: Mapping[str, float], unit: str, left: float) -> str:
    parts = []
    low = min(values.values()) if values else 0.0
    for i, bound in enumerate(breaks):
        top = 20 + i * 24
        text = f"{number_text(low)} to {number_text(bound)}{unit}" if i == 0 else \
            f"up to {number_text(bound)}{unit}"
        parts.append(f'<rect x="{left:.1f}" y="{top}" width="16" height="16" '
                     f'fill="{shade(bound, breaks)}" stroke="#c5ccd8"/>'
                     f'<text x="{left + 22:.1f}" y="{top + 12}" fill="#1d2433">'
                     f'{html.escape(text)}</text>')
    top = 20 + len(breaks) * 24
    parts.append(f'<rect x="{left:.1f}" y="{top}" width="16" height="16" fill="{NO_VALUE}" '
                 f'stroke="#c5ccd8"/><text x="{left + 22:.1f}" y="{top + 12}" '
                 f'fill="#566074">no rows</text>')
    return "".join(parts)
