"""The geocoder on the real warehouse: exact answers at the edges, incremental runs,
re-geocoding when the boundaries change, garbage skipped, all or nothing."""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import random

import numpy as np
import pytest

from pipelines.geo import Boundaries, BoundariesMissingError, geocode
from pulse import roles, warehouse
from sample_api import boundaries as synthetic
from tests.conftest import query

# The module, not the function of the same name that pipelines.geo exports.
geocode_module = importlib.import_module("pipelines.geo.geocode")
# dlt load ids: the load's start as Unix seconds, one per insert here.
LOAD_IDS = (f"{n}.5" for n in itertools.count(1_780_000_000))
GARBAGE = ["abc", "", " 41.8 ", "41.8.1", "1e5", "NaN", "Infinity", "12345678901234567890", "-"]


def load_boundaries(admin: warehouse.Connection, areas: list[dict], zips: list[dict]) -> None:
    """The two layers as dlt lands them, created as the admin (roles.py gives them to the loader)."""
    query(admin, "create schema if not exists raw_chicago")
    query(admin, "drop table if exists raw_chicago.community_areas, raw_chicago.zip_codes")
    query(admin, "create table raw_chicago.community_areas (area_numbe text, community text, "
                 "area_num_1 text, shape_area text, shape_len text, the_geom jsonb, _dlt_load_id text)")
    query(admin, "create table raw_chicago.zip_codes (zip text, objectid text, shape_area text, "
                 "shape_len text, the_geom jsonb, _dlt_load_id text)")
    for f in areas:
        p = f["properties"]
        query(admin, "insert into raw_chicago.community_areas values (%s, %s, %s, %s, %s, %s, '1')",
              (p["area_numbe"], p["community"], p["area_num_1"], p["shape_area"], p["shape_len"],
               json.dumps(f["geometry"])))
    for f in zips:
        p = f["properties"]
        query(admin, "insert into raw_chicago.zip_codes values (%s, %s, %s, %s, %s, '1')",
              (p["zip"], p["objectid"], p["shape_area"], p["shape_len"], json.dumps(f["geometry"])))


def insert_points(admin: warehouse.Connection, table: str, rows: list[tuple[str | None, str | None]]) -> str:
    """Adds `rows` as one new dlt load; returns its load id."""
    query(admin, f"create table if not exists raw_chicago.{table} "
                 "(id serial, latitude text, longitude text, _dlt_load_id text)")
    query(admin, f"alter table raw_chicago.{table} owner to {roles.role_name('loader', admin.database)}")
    load_id = next(LOAD_IDS)
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    query(admin, f"insert into raw_chicago.{table} (latitude, longitude, _dlt_load_id) values {values}",
          tuple(v for row in rows for v in (*row, load_id)))
    return load_id


def text(value: float) -> str:
    return f"{value:.9f}"  # as the portal sends coordinates


def stored(admin: warehouse.Connection) -> dict[tuple[float, float], tuple[str | None, int | None]]:
    rows = query(admin, "select latitude, longitude, zip_code, community_area_number "
                        "from raw_chicago.geocoded_points")
    return {(lat, lon): (zip_code, area) for lat, lon, zip_code, area in rows}


def loader() -> warehouse.Connection:
    return roles.connection("loader")


@pytest.fixture
def raw(warehouse_db):
    """raw_chicago with the synthetic boundaries and no point tables."""
    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    load_boundaries(warehouse_db, synthetic.community_area_features(), synthetic.zip_code_features())
    yield warehouse_db
    query(warehouse_db, "drop schema if exists raw_chicago cascade")


def located_times(admin: warehouse.Connection) -> dict[str, object]:
    """(lat,lon) as text -> the time the pair's answer was last set."""
    return dict(query(admin, "select (latitude, longitude)::text, geocoded_at "
                             "from raw_chicago.geocoded_points"))


def test_boundaries_locate_in_memory_matches_the_construction():
    boundaries = Boundaries.from_features(synthetic.community_area_features(), synthetic.zip_code_features())
    rng = random.Random(7)
    points = [synthetic.random_point(rng) for _ in range(5000)]
    points += [(lat, lon) for lat, lon, _, _ in synthetic.edge_points()]
    lats, lons = np.array(points).T
    zips, areas = boundaries.locate(lats, lons)
    assert list(zip(zips, areas, strict=True)) == [synthetic.locate(lat, lon) for lat, lon in points]


def test_every_edge_point_gets_its_zip_and_area_and_garbage_is_skipped(raw):
    edge = synthetic.edge_points()
    insert_points(raw, "crimes", [(text(lat), text(lon)) for lat, lon, _, _ in edge])
    insert_points(raw, "service_requests", [(None, None), ("41.8", None), (None, "-87.6"),
                                            *[(g, "-87.6") for g in GARBAGE], *[("41.8", g) for g in GARBAGE],
                                            (text(edge[0][0]), text(edge[0][1]))])  # a pair crimes has too
    stats = geocode(loader())

    expected = {(lat, lon): (zip_code, area) for lat, lon, zip_code, area in edge}
    assert stored(raw) == expected
    assert stats.points_read == stats.points_geocoded == len(expected)
    assert stats.outside_boundaries == sum(z is None or a is None for z, a in expected.values()) >= 4
    assert stats.tables == ("crimes", "service_requests")  # the others are not loaded yet
    versions = query(raw, "select distinct boundaries_version from raw_chicago.geocoded_points")
    assert versions == [(stats.boundaries_version,)]
    # dbt reads it as the transformer, like every raw table
    assert query(roles.connection("transformer"),
                 "select count(*) from raw_chicago.geocoded_points") == [(len(expected),)]


def test_runs_are_incremental_and_follow_the_boundaries(raw):
    rng = random.Random(11)
    first = [synthetic.random_point(rng) for _ in range(300)]
    insert_points(raw, "crimes", [(text(lat), text(lon)) for lat, lon in first])
    assert geocode(loader()).points_geocoded == 300

    again = geocode(loader())
    # no load since: not one row is read
    assert (again.rows_read, again.points_read, again.points_geocoded) == (0, 0, 0)
    assert again.outside_boundaries == 0

    added = [synthetic.random_point(rng) for _ in range(20)]
    insert_points(raw, "traffic_crashes", [(text(lat), text(lon)) for lat, lon in added])
    insert_points(raw, "crimes", [(text(lat), text(lon)) for lat, lon in first[:5]])  # known pairs
    # a moved row: dlt's merge writes it again with the new load's id
    query(raw, "update raw_chicago.crimes set latitude = '41.700000001', _dlt_load_id = %s where id = 1",
          (next(LOAD_IDS),))
    stats = geocode(loader())
    assert (stats.points_read, stats.points_geocoded) == (21, 21)
    assert stats.rows_read == 20 + 5 + 1  # the two new loads and the moved row, nothing else
    assert len(stored(raw)) == 321
    old_version = stats.boundaries_version
    located_at = located_times(raw)

    # The portal redraws the ZIP layer: two codes swap their areas. Every stored pair follows.
    areas, zips = synthetic.community_area_features(), copy.deepcopy(synthetic.zip_code_features())
    zips[0]["geometry"], zips[1]["geometry"] = zips[1]["geometry"], zips[0]["geometry"]
    load_boundaries(raw, areas, zips)
    stats = geocode(loader())
    assert (stats.rows_read, stats.points_read, stats.points_geocoded) == (0, 0, 321)
    assert stats.boundaries_version != old_version
    swap = {zips[0]["properties"]["zip"]: zips[1]["properties"]["zip"],
            zips[1]["properties"]["zip"]: zips[0]["properties"]["zip"]}
    moved = set()
    for (lat, lon), answer in stored(raw).items():
        zip_code, area = synthetic.locate(lat, lon)
        assert answer == (swap.get(zip_code, zip_code), area)
        if zip_code in swap:
            moved.add(f"({lat},{lon})")
    assert 0 < stats.points_moved == len(moved) < 321
    # only the pairs the new layer moved get a new time: the enriched models rebuild just their rows
    now = located_times(raw)
    assert {pair for pair in now if now[pair] != located_at[pair]} == moved
    assert geocode(loader()).points_geocoded == 0
    runs = query(raw, "select points_read, points_geocoded from raw_chicago.geocoder_runs order by run_at")
    assert runs == [(300, 300), (0, 0), (21, 21), (0, 321), (0, 0)]


def test_a_failed_run_leaves_the_table_as_it_was(raw, monkeypatch):
    insert_points(raw, "crimes", [("41.8", "-87.7")])
    geocode(loader())
    before = stored(raw)
    insert_points(raw, "crimes", [("41.9", "-87.7")])
    real_write = geocode_module._write

    def write_then_crash(*args, **kwargs):
        real_write(*args, **kwargs)
        raise RuntimeError("killed after the upsert")

    monkeypatch.setattr(geocode_module, "_write", write_then_crash)
    with pytest.raises(RuntimeError, match="killed"):
        geocode(loader())
    assert stored(raw) == before


def test_missing_boundaries_and_unknown_tables_are_clear_errors(raw):
    with pytest.raises(ValueError, match="no coordinates declared for \\['nowhere'\\]"):
        geocode(loader(), tables=["nowhere"])
    query(raw, "delete from raw_chicago.zip_codes")
    with pytest.raises(BoundariesMissingError, match="raw_chicago.zip_codes is missing or empty"):
        geocode(loader())
    query(raw, "drop table raw_chicago.community_areas")
    with pytest.raises(BoundariesMissingError, match="raw_chicago.community_areas"):
        geocode(loader())


def test_only_the_requested_tables_are_read(raw):
    insert_points(raw, "crimes", [("41.8", "-87.7")])
    insert_points(raw, "food_inspections", [("41.9", "-87.7")])
    stats = geocode(loader(), tables=["food_inspections"])
    assert stats.tables == ("food_inspections",)
    assert list(stored(raw)) == [(41.9, -87.7)]
