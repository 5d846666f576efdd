"""Every Chicago report mart equals an independent pandas computation from the generated rows.

The whole path runs for real: seven datasets from the local API into raw_chicago, the
geocoder, `dbt build`. The expected values are computed here from the generator's
ground truth and the boundaries' analytic `locate` (not shapely, not SQL), once after
the backfill and again after a revision of every dataset and an incremental build.
"""

from __future__ import annotations

import pytest

from pipelines.chicago import load_chicago
from pipelines.chicago.settings import load_datasets
from pipelines.geo import geocode
from pulse import roles
from sample_api import SampleApi, boundaries, chicago_portal
from sample_api.oracles.chicago_reports import check_all_marts, truth
from tests.conftest import query, run_dbt

ROWS = 1_500


@pytest.fixture(scope="module")
def portal():
    return chicago_portal(rows=ROWS, seed=17)


@pytest.fixture(scope="module")
def api(portal):
    with SampleApi(portal) as server:
        yield server


def refresh(api, tmp_path_factory) -> None:
    load_chicago(pipelines_dir=tmp_path_factory.getbasetemp() / "dlt", base_url=api.url,
                 backoff_factor=0)
    geocode(roles.url("loader"))
    build = run_dbt("build")
    assert build.returncode == 0, build.stdout[-4000:]


@pytest.fixture(scope="module")
def backfilled(warehouse_db, dbt_manifest, api, tmp_path_factory):
    for schema in ("raw_chicago", "staging", "enriched", "marts"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    refresh(api, tmp_path_factory)
    return warehouse_db


def test_report_marts_equal_pandas_after_backfill(backfilled, portal):
    check_all_marts(backfilled, truth(portal))


def test_boundary_adjacent_points_get_their_known_zip_and_area(backfilled, portal):
    expected = {(lat, lon): (zip_code, area) for lat, lon, zip_code, area in boundaries.edge_points()}
    checked = 0
    for name, key in (("service_requests", "service_request_id"), ("traffic_crashes", "crash_id")):
        ds = next(d for d in portal.values() if d.dataset_id == load_datasets()[name].id)
        on_edges = ds.rows_on_edges()
        assert on_edges, f"{name}: the generator should place rows on boundary edges"
        got = {k: (z, a) for k, z, a in query(
            backfilled, f"select {key}::text, zip_code, community_area_number "
                        f"from enriched.int_chicago__{name}_enriched")}
        for record, point in on_edges.items():
            assert got[record] == expected[point], (name, record, point)
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("name, key", [("service_requests", "service_request_id"),
                                       ("building_permits", "permit_id"), ("crimes", "crime_id")])
def test_community_area_disagreements_are_flagged(backfilled, portal, name, key):
    ds = next(d for d in portal.values() if d.dataset_id == load_datasets()[name].id)
    mismatches = ds.community_area_mismatches()
    assert mismatches
    flagged = {k for (k,) in query(backfilled, f"select {key}::text from "
                                   f"enriched.int_chicago__{name}_enriched "
                                   "where community_area_mismatch")}
    assert flagged == set(mismatches)


def test_rows_without_coordinates_are_counted_not_lost(backfilled, portal):
    rows = truth(portal)["traffic_crashes"]
    missing = sum(1 for r in rows if r.get("latitude") is None)
    assert missing > 0
    got = query(backfilled, "select count(*) from enriched.int_chicago__traffic_crashes_enriched "
                            "where not has_coordinates")[0][0]
    assert got == missing


def test_report_marts_equal_pandas_after_a_revision(backfilled, portal, api, tmp_path_factory):
    for ds in portal.values():
        if hasattr(ds, "apply_revision"):
            ds.apply_revision(new_rows=40, updated_rows=60)
    refresh(api, tmp_path_factory)
    check_all_marts(backfilled, truth(portal))
