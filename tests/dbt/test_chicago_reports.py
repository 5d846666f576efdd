"""Every Chicago report mart equals an independent pandas computation from the generated rows.

The whole path runs for real: seven datasets from the local API into raw_chicago, the
geocoder, `dbt build`. The expected values are computed here from the generator's
ground truth and the boundaries' analytic `locate` (not shapely, not SQL), once after
the backfill and again after each incremental build: a revision of every dataset, one
that moves rows to other months and places, and boundaries the geocoder redraws. The
monthly marts must also rewrite exactly the months those rows left and entered.
"""

from __future__ import annotations

import pytest

from pipelines.chicago import load_chicago
from pipelines.chicago.settings import load_datasets
from pipelines.geo import geocode
from pulse import roles
from sample_api import SampleApi, boundaries, chicago_portal
from sample_api.oracles.chicago_reports import EVENT_DATE, check_all_marts, month, truth
from sample_api.oracles.crimes import assert_daily_matches, assert_monthly_matches
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


# The monthly marts, their grain, and the columns naming the month and the dataset.
MONTHLY = {
    "rpt_chicago__crimes_monthly_by_area": ("occurred_month, community_area_id", "crimes"),
    "rpt_chicago__crash_injuries_monthly": ("crashed_month, community_area_number",
                                            "traffic_crashes"),
    "rpt_chicago__monthly_by_zip": ("month, zip_code", None),
    "rpt_chicago__monthly_by_community_area": ("month, community_area_number", None),
}
KEYS = {"crimes": "id", "service_requests": "sr_number", "traffic_crashes": "crash_record_id",
        "building_permits": "id", "food_inspections": "inspection_id"}


def versions(conn, mart: str) -> dict[tuple, str]:
    """(dataset, *grain) -> the row's xmin, which changes exactly when a build rewrites it."""
    grain, dataset = MONTHLY[mart]
    label = f"'{dataset}'" if dataset else "dataset"
    return {tuple(r[:-1]): r[-1] for r in query(
        conn, f"select {label}, {grain}, xmin::text from marts.{mart}")}


def months_of(rows: dict[str, list[dict]], keys: dict[str, set[str]]) -> set[tuple]:
    """(dataset, month) of the rows of `keys` (by dataset) in `rows` (truth())."""
    return {(dataset, month(row[EVENT_DATE[dataset]]))
            for dataset, records in rows.items() for row in records
            if row[KEYS[dataset]] in keys[dataset]}


def crimes(portal):
    return next(d for d in portal.values() if d.dataset_id == load_datasets()["crimes"].id)


def check_every_mart(conn, portal) -> None:
    check_all_marts(conn, truth(portal))
    assert_monthly_matches(conn, crimes(portal))
    assert_daily_matches(conn, crimes(portal))


def test_monthly_marts_follow_rows_that_move_between_months_and_areas(backfilled, portal, api,
                                                                       tmp_path_factory):
    """A revision moves rows to an earlier month and another ZIP and area: each monthly
    mart recounts exactly the months the loaded rows were in and are in now (their old
    month too), rewrites no row of any other month, and equals pandas again."""
    before_truth = truth(portal)
    before = {mart: versions(backfilled, mart) for mart in MONTHLY}
    loads = {name: query(backfilled, f"select max(_dlt_load_id) from raw_chicago.{name}")[0][0]
             for name in KEYS}
    moved = {}
    for name in KEYS:
        ds = next(d for d in portal.values() if d.dataset_id == load_datasets()[name].id)
        moved[name] = ds.apply_revision(new_rows=10, updated_rows=30, moved_rows=20).moved_ids
    refresh(api, tmp_path_factory)
    after_truth = truth(portal)
    check_every_mart(backfilled, portal)

    # the rows this refresh loaded, and the months they leave and enter
    loaded = {name: {key for (key,) in query(
        backfilled, f"select {KEYS[name]}::text from raw_chicago.{name} "
                    "where _dlt_load_id > %s", (loads[name],))} for name in KEYS}
    assert all(set(moved[name]) <= loaded[name] for name in KEYS)
    left, entered = months_of(before_truth, loaded), months_of(after_truth, loaded)
    assert left - entered, "some rows should leave a month no loaded row enters"
    touched = left | entered
    for mart in MONTHLY:
        after = versions(backfilled, mart)
        rewritten = {key for key, xmin in after.items() if before[mart].get(key) != xmin}
        in_touched = {key for key in after if key[:2] in touched}
        assert rewritten == in_touched, mart
        assert set(after) - in_touched, f"{mart}: the refresh should leave some months alone"
        gone = set(before[mart]) - set(after)
        assert gone and {key[:2] for key in gone} <= touched, mart


AREAS = ("8", "32")  # swapped by redrawn_boundaries, with the first two ZIP codes


@pytest.fixture
def redrawn_boundaries(backfilled, portal, monkeypatch):
    """Two community areas and two ZIP codes swap their shapes in raw, and the oracle's
    `located` swaps them too; yields (the real `located`, the swapped one). Undone at the
    end, where the geocoder and a build must bring every mart back to the real truth."""
    from sample_api.oracles import chicago_reports

    zips = tuple(sorted(z for (z,) in query(backfilled, "select zip from raw_chicago.zip_codes"))[:2])
    swaps = {"zip": dict([zips, zips[::-1]]), "area": {int(AREAS[0]): int(AREAS[1]),
                                                        int(AREAS[1]): int(AREAS[0])}}

    def swap() -> None:
        for table, column, (a, b) in (("community_areas", "area_numbe", AREAS),
                                      ("zip_codes", "zip", zips)):
            query(backfilled, f"""
                update raw_chicago.{table} set {column} = case {column} when %(a)s then %(b)s
                    else %(a)s end
                where {column} in (%(a)s, %(b)s)
            """, {"a": a, "b": b})

    real = chicago_reports.located

    def swapped(row):
        zip_code, area = real(row)
        return swaps["zip"].get(zip_code, zip_code), swaps["area"].get(area, area)

    swap()
    monkeypatch.setattr(chicago_reports, "located", swapped)
    yield real, swapped
    monkeypatch.setattr(chicago_reports, "located", real)
    swap()
    assert geocode(roles.url("loader")).points_moved > 0
    build = run_dbt("build")
    assert build.returncode == 0, build.stdout[-4000:]
    check_every_mart(backfilled, portal)


def test_monthly_marts_follow_rows_the_geocoder_moves(backfilled, portal, redrawn_boundaries):
    """Redrawn boundaries move rows to another ZIP and area without a load: the geocoder
    stamps the moved points, the enriched rows follow, and each monthly mart recounts
    exactly the months of the rows that moved (and equals pandas with the new shapes)."""
    located, swapped = redrawn_boundaries
    rows = truth(portal)
    relocated = {name: {row[KEYS[name]] for row in records if swapped(row) != located(row)}
                 for name, records in rows.items()}
    touched = months_of(rows, relocated)
    assert touched
    before = {mart: versions(backfilled, mart) for mart in MONTHLY}
    assert geocode(roles.url("loader")).points_moved > 0
    build = run_dbt("build")
    assert build.returncode == 0, build.stdout[-4000:]
    check_every_mart(backfilled, portal)
    for mart in MONTHLY:
        after = versions(backfilled, mart)
        rewritten = {key for key, xmin in after.items() if before[mart].get(key) != xmin}
        in_touched = {key for key in after if key[:2] in touched}
        assert rewritten == in_touched and set(after) - in_touched, mart


def test_monthly_marts_drop_rows_that_become_rejected(backfilled, portal, api, tmp_path_factory):
    """A revision makes rows unusable (an event date that does not parse): staging rejects
    them, the enriched models drop them (drop_newly_rejected), the rejected-rows mart lists
    them, and each monthly mart recounts exactly the months they and the other revised rows
    left or entered. Last in this module: the patched rows stay in the portal's truth."""
    before_truth = truth(portal)
    before = {mart: versions(backfilled, mart) for mart in MONTHLY}
    loaded = {name: set() for name in KEYS}
    rejected = {name: set() for name in KEYS}
    for name in ("traffic_crashes", "service_requests"):
        ds = next(d for d in portal.values() if d.dataset_id == load_datasets()[name].id)
        loaded[name] = set(ds.apply_revision(new_rows=0, updated_rows=8).updated_ids)
        rejected[name] = set(sorted(loaded[name])[:5])
        for key in rejected[name]:
            ds.patch(key, lambda row, column=EVENT_DATE[name]: {**row, column: "2024-13-45T00:00:00.000"})
    refresh(api, tmp_path_factory)

    rows = {name: [r for r in records if r[KEYS[name]] not in rejected[name]]
            for name, records in truth(portal).items()}
    check_all_marts(backfilled, rows)
    assert_monthly_matches(backfilled, crimes(portal))
    listed = set(query(backfilled, "select dataset, record_id from marts.rpt_chicago__rejected_rows "
                                   "where stage = 'staging'"))
    assert {(name, key) for name, keys in rejected.items() for key in keys} <= listed
    touched = months_of(before_truth, loaded) | months_of(rows, loaded)
    for mart in MONTHLY:
        after = versions(backfilled, mart)
        rewritten = {key for key, xmin in after.items() if before[mart].get(key) != xmin}
        assert rewritten == {key for key in after if key[:2] in touched}, mart
        assert {key[:2] for key in set(before[mart]) - set(after)} <= touched, mart
