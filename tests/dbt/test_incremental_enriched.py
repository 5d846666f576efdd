"""The enriched point models take what changed and nothing else.

On the real path (the local portal, `load_chicago`, the geocoder, `dbt build` as the
transformer): an ordinary refresh compiles to the new loads alone; rows built before
the geocoder located their coordinates get their ZIP and area on the next build; and a
redrawn boundary layer rebuilds exactly the rows whose ZIP it moved, no other row.
"""

from __future__ import annotations

import pytest

from pipelines.chicago import load_chicago
from pipelines.geo import geocode
from pulse import roles
from pulse.dbt import target_dir
from sample_api import SampleApi, chicago_portal
from sample_api.oracles.chicago_reports import located, truth
from tests.conftest import query, run_dbt

ENRICHED = "enriched.int_chicago__crimes_enriched"
# dbt's compiled SQL of the last build of the crimes model
COMPILED = "compiled/pulse/dbt_project/models/enriched/chicago/int_chicago__crimes_enriched.sql"


@pytest.fixture(scope="module")
def portal():
    return chicago_portal(rows=600, seed=23)


@pytest.fixture(scope="module")
def api(portal):
    with SampleApi(portal) as server:
        yield server


def load(api, tmp_path_factory) -> None:
    load_chicago(pipelines_dir=tmp_path_factory.getbasetemp() / "dlt-enriched", base_url=api.url,
                 backoff_factor=0)


def build() -> str:
    result = run_dbt("build", "--select", "+int_chicago__crimes_enriched",
                     "--exclude-resource-type", "unit_test")
    assert result.returncode == 0, result.stdout[-4000:]
    return (target_dir() / COMPILED).read_text()


def revise(portal, new_rows: int, updated_rows: int) -> None:
    for ds in portal.values():
        if hasattr(ds, "apply_revision"):
            ds.apply_revision(new_rows=new_rows, updated_rows=updated_rows)


def crimes_truth(portal) -> dict[int, tuple[str | None, int | None]]:
    return {int(row["id"]): located(row) for row in truth(portal)["crimes"]}


def enriched(conn) -> dict[int, tuple[str | None, int | None]]:
    rows = query(conn, f"select crime_id, zip_code, community_area_number from {ENRICHED}")
    return {key: (zip_code, area) for key, zip_code, area in rows}


def versions(conn) -> dict[int, str]:
    """Each row's xmin: it changes exactly when the build rewrites the row."""
    return dict(query(conn, f"select crime_id, xmin::text from {ENRICHED}"))


@pytest.fixture(scope="module")
def built(warehouse_db, dbt_manifest, api, tmp_path_factory):
    for schema in ("raw_chicago", "staging", "enriched", "marts"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    load(api, tmp_path_factory)
    geocode(roles.url("loader"))
    build()
    return warehouse_db


def test_an_ordinary_refresh_reads_the_new_loads_alone(built, portal, api, tmp_path_factory):
    before = versions(built)
    (last_load,) = query(built, "select max(_dlt_load_id) from raw_chicago.crimes")[0]
    revise(portal, new_rows=20, updated_rows=30)
    load(api, tmp_path_factory)
    geocode(roles.url("loader"))
    compiled = build()
    # no sub-query in the filter: it would not be pushed below the staging view
    assert "exists" not in compiled and "relocated" not in compiled, compiled
    assert "loaded_at >" in compiled
    assert enriched(built) == crimes_truth(portal)
    # rewritten: the rows of the new load (the revised ones and the overlap window's), no other
    reloaded = {int(key) for (key,) in query(
        built, "select id from raw_chicago.crimes where _dlt_load_id > %s", (last_load,))}
    after = versions(built)
    rewritten = {key for key in before if after[key] != before[key]}
    assert rewritten and rewritten == reloaded & set(before)


def test_rows_built_before_their_coordinates_were_located_get_them_next(built, portal, api,
                                                                       tmp_path_factory):
    revise(portal, new_rows=25, updated_rows=0)
    load(api, tmp_path_factory)
    build()  # by hand, before the geocoder: the new rows' pairs are not located yet
    pending = {key for (key,) in query(built, f"select crime_id from {ENRICHED} "
                                              "where has_coordinates and geocoded_at is null")}
    assert pending  # new random coordinates: the geocoder has not seen them
    assert enriched(built) != crimes_truth(portal)
    geocode(roles.url("loader"))
    before = versions(built)
    compiled = build()
    assert "relocated" in compiled
    assert enriched(built) == crimes_truth(portal)
    after = versions(built)
    assert {key for key in before if after[key] != before[key]} == pending


def test_a_redrawn_zip_layer_rebuilds_only_the_rows_it_moved(built, portal):
    # Two ZIP codes swap their shapes; every row in either changes ZIP, no other row.
    zips = [z for (z,) in query(built, "select zip from raw_chicago.zip_codes order by zip")]
    first, second = zips[0], zips[1]
    query(built, """
        update raw_chicago.zip_codes as z set zip = case z.zip when %(a)s then %(b)s else %(a)s end
        where z.zip in (%(a)s, %(b)s)
    """, {"a": first, "b": second})
    swap = {first: second, second: first}
    expected = {key: (swap.get(zip_code, zip_code), area)
                for key, (zip_code, area) in crimes_truth(portal).items()}
    moved = {key for key, (zip_code, _) in crimes_truth(portal).items() if zip_code in swap}
    assert moved

    before = versions(built)
    stats = geocode(roles.url("loader"))
    assert stats.points_moved > 0
    compiled = build()
    assert "relocated" in compiled
    assert enriched(built) == expected
    after = versions(built)
    assert {key for key in before if after[key] != before[key]} == moved
    # and the next refresh, with nothing new, rewrites nothing
    geocode(roles.url("loader"))
    assert "relocated" not in build()
    assert versions(built) == after
