"""The synthetic boundary layers tile the city exactly, and `locate` agrees with shapely."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from pulse.warehouse import PROJECT_ROOT
from sample_api import boundaries

LAYERS = {
    "community_areas": (boundaries.community_area_features, "area_numbe"),
    "zip_codes": (boundaries.zip_code_features, "zip"),
}
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = boundaries.EXTENT


def polygons(layer: str) -> tuple[list[str], list[shapely.MultiPolygon]]:
    features, key = LAYERS[layer]
    return ([f["properties"][key] for f in features()],
            [shape(f["geometry"]) for f in features()])


def answer(layer: str, zip_code: str | None, area: int | None) -> str | None:
    value = zip_code if layer == "zip_codes" else area
    return None if value is None else str(value)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_tiles_the_extent_exactly(layer):
    _, geometries = polygons(layer)
    assert all(g.is_valid and g.geom_type == "MultiPolygon" for g in geometries)
    extent_area = (LAT_MAX - LAT_MIN) * (LON_MAX - LON_MIN)
    union = shapely.union_all(geometries)
    assert union.area == pytest.approx(extent_area, rel=1e-12)
    assert union.equals(shapely.box(LON_MIN, LAT_MIN, LON_MAX, LAT_MAX))
    assert sum(g.area for g in geometries) == pytest.approx(extent_area, rel=1e-12)  # no overlaps
    tree = shapely.STRtree(geometries)
    for i, j in tree.query(geometries, predicate="overlaps").T:
        assert i == j, f"features {i} and {j} overlap"


@pytest.mark.parametrize("layer", LAYERS)
def test_edges_are_not_axis_aligned(layer):
    _, geometries = polygons(layer)
    assert all(len(shapely.get_coordinates(g)) > 20 for g in geometries)
    assert sum(not g.equals(g.envelope) for g in geometries) == len(geometries)


def test_the_two_layers_are_different_tilings():
    _, areas = polygons("community_areas")
    _, zips = polygons("zip_codes")
    area_edges = shapely.union_all([g.boundary for g in areas])
    zip_edges = shapely.union_all([g.boundary for g in zips])
    shared = area_edges.intersection(zip_edges).length
    outer_border = 2 * ((LAT_MAX - LAT_MIN) + (LON_MAX - LON_MIN))
    assert shared == pytest.approx(outer_border)  # only the city's own border


def test_properties_look_like_the_portal_export():
    seed = PROJECT_ROOT / "dbt_project" / "seeds" / "chicago_community_areas.csv"
    with seed.open() as f:
        names = {row["community_area_id"]: row["community_area_name"].upper() for row in csv.DictReader(f)}
    areas = boundaries.community_area_features()
    assert {f["properties"]["area_numbe"]: f["properties"]["community"] for f in areas} == names
    zips = boundaries.zip_code_features()
    assert len(zips) == len({f["properties"]["zip"] for f in zips}) == 59
    assert [f["properties"]["objectid"] for f in zips] == [str(n) for n in range(1, 60)]
    for feature in areas + zips:
        assert all(isinstance(v, str) for v in feature["properties"].values())
        float(feature["properties"]["shape_area"]), float(feature["properties"]["shape_len"])


@pytest.mark.parametrize("layer", LAYERS)
def test_some_features_have_two_separate_parts(layer):
    _, geometries = polygons(layer)
    two_parts = [g for g in geometries if len(g.geoms) == 2]
    assert len(two_parts) >= 3
    assert all(g.geoms[0].distance(g.geoms[1]) > 0 for g in two_parts)


@pytest.mark.parametrize("layer", LAYERS)
def test_rings_are_closed_and_counter_clockwise(layer):
    features, _ = LAYERS[layer]
    for feature in features():
        for polygon in feature["geometry"]["coordinates"]:
            exterior = polygon[0]
            assert exterior[0] == exterior[-1]
            assert shapely.LinearRing(exterior).is_ccw


@pytest.mark.parametrize("layer", LAYERS)
def test_random_points_lie_in_exactly_the_polygon_locate_names(layer):
    labels, geometries = polygons(layer)
    rng = random.Random(5)
    points = [boundaries.random_point(rng) for _ in range(20_000)]
    lats, lons = np.array(points).T
    assert all(round(v, 9) == v for v in lats[:100])
    inside = np.array([shapely.contains_xy(g, lons, lats) for g in geometries])  # feature x point
    assert (inside.sum(axis=0) == 1).all()
    located = [answer(layer, *boundaries.locate(lat, lon)) for lat, lon in points]
    assert [labels[i] for i in inside.argmax(axis=0)] == located


@pytest.mark.parametrize("layer", LAYERS)
def test_edge_points_match_shapely(layer):
    labels, geometries = polygons(layer)
    points = boundaries.edge_points()
    assert 500 <= len(points) < 5000
    lats, lons = np.array([(p[0], p[1]) for p in points]).T
    inside = np.array([shapely.contains_xy(g, lons, lats) for g in geometries])
    for k, (lat, lon, zip_code, area) in enumerate(points):
        owners = [labels[i] for i in np.flatnonzero(inside[:, k])]
        assert owners == ([] if answer(layer, zip_code, area) is None else [answer(layer, zip_code, area)]), \
            (lat, lon)


def test_edge_points_straddle_edges_and_include_outside_points():
    points = boundaries.edge_points()
    assert sum(zip_code is None and area is None for _, _, zip_code, area in points) >= 4
    # Points come in pairs across an edge: most pairs differ in one layer.
    pairs = list(zip(points[0:-10:2], points[1:-10:2], strict=True))
    assert sum(a[2:] != b[2:] for a, b in pairs) > 0.9 * len(pairs)
