"""The seven-dataset portal over real HTTP: routing, boundary layers, metadata, faults, declared datasets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from sample_api import BoundaryDataset, CrimesDataset, SampleApi, chicago_portal
from sample_api.__main__ import main
from sample_api.boundaries import community_area_features, zip_code_features
from sample_api.rows import RowDataset

DECLARED = yaml.safe_load((Path(__file__).parents[2] / "pipelines/chicago/datasets.yml").read_text())
IDS = {table: entry["id"] for table, entry in DECLARED.items()}
FLOATING = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000")


@pytest.fixture(scope="module")
def api():
    with SampleApi(chicago_portal(rows=300, seed=4)) as server:
        yield server


def get(url: str, **params) -> requests.Response:
    return requests.get(url, params=params, timeout=10)


def test_the_portal_serves_every_declared_dataset_with_its_columns(api):
    assert set(api.datasets) == set(IDS.values())
    assert isinstance(api.dataset, CrimesDataset) and api.resource_url.endswith("/resource/ijzp-q8t2.json")
    for table, entry in DECLARED.items():
        dataset = api.datasets[entry["id"]]
        assert list(dataset.schema.columns) == list(entry["columns"]), table
        assert dataset.metadata()["name"] == entry["title"]
        rows = get(api.url_of(entry["id"]), **{"$limit": 5}).json()
        assert len(rows) == 5 and all(set(r) <= set(entry["columns"]) for r in rows)
        assert entry["primary_key"] in rows[0]
    assert get(f"{api.url}/resource/abcd-1234.json").status_code == 404
    assert get(api.url_of(IDS["zip_codes"], "csv")).status_code == 404


def test_boundary_layers_as_geojson_and_as_rows(api):
    for table, features in (("community_areas", community_area_features()),
                            ("zip_codes", zip_code_features())):
        geo = get(api.url_of(IDS[table], "geojson"))
        assert geo.status_code == 200 and geo.headers["Content-Type"].startswith("application/vnd.geo+json")
        body = geo.json()
        assert body["type"] == "FeatureCollection"
        assert [(f["properties"], f["geometry"]) for f in body["features"]] == \
            [(f["properties"], f["geometry"]) for f in features]
        rows = get(api.url_of(IDS[table])).json()
        assert [r.pop("the_geom") for r in rows] == [f["geometry"] for f in features]
        assert rows == [f["properties"] for f in features]
        assert all(f["geometry"]["type"] == "MultiPolygon" for f in features)
    key = DECLARED["community_areas"]["primary_key"]
    page = get(api.url_of(IDS["community_areas"], "geojson"), **{"$limit": 10, "$offset": 70}).json()
    assert [f["properties"][key] for f in page["features"]] == [str(n) for n in range(71, 78)]
    picked = get(api.url_of(IDS["community_areas"]), **{"$select": "area_numbe,community",
                                                       "$where": "area_numbe = '32'"}).json()
    assert picked == [{"area_numbe": "32", "community": "LOOP"}]
    assert get(api.url_of(IDS["zip_codes"]), **{"$select": "count(*)"}).json() == [{"count": "59"}]


def test_row_datasets_answer_geojson_with_their_points(api):
    body = get(api.url_of(IDS["service_requests"], "geojson"), **{"$limit": 100}).json()
    for feature in body["features"]:
        props = feature["properties"]
        assert "location" not in props and "location_address" not in props  # a GeoJSON point column
        if feature["geometry"] is not None:
            assert feature["geometry"]["coordinates"] == [float(props["longitude"]), float(props["latitude"])]


def test_metadata_for_every_dataset(api):
    for table, dataset_id in IDS.items():
        resp = get(api.views_url(dataset_id))
        assert resp.status_code == 200, table
        view = resp.json()
        assert view["id"] == dataset_id and view["name"] == DECLARED[table]["title"]
        assert isinstance(view["rowsUpdatedAt"], int) and view["viewLastModified"] >= view["rowsUpdatedAt"]
        assert [c["fieldName"] for c in view["columns"]] == list(DECLARED[table]["columns"])
        dataset = api.datasets[dataset_id]
        if isinstance(dataset, RowDataset):
            assert view["rowsUpdatedAt"] == dataset.max_updated_ms // 1000
    assert get(f"{api.url}/api/views/{IDS['crimes']}").json()["id"] == IDS["crimes"]  # .json optional
    assert get(f"{api.url}/api/views/abcd-1234.json").status_code == 404
    assert len(api.metadata_requests(IDS["crimes"])) == 2  # with and without .json


def test_rows_updated_at_moves_with_the_data():
    portal = chicago_portal(rows=50, seed=1, tables=["service_requests", "zip_codes"])
    requests_ds: RowDataset = portal[IDS["service_requests"]]
    layer: BoundaryDataset = portal[IDS["zip_codes"]]
    with SampleApi(portal) as api:
        def stamp(dataset_id: str) -> int:
            return get(api.views_url(dataset_id)).json()["rowsUpdatedAt"]

        rows_before, layer_before = stamp(IDS["service_requests"]), stamp(IDS["zip_codes"])
        revision = requests_ds.apply_revision(new_rows=1, updated_rows=1)
        assert stamp(IDS["service_requests"]) == int(revision.updated_at.timestamp()) > rows_before
        assert stamp(IDS["zip_codes"]) == layer_before  # untouched layer, same stamp

        kept = layer.features()[:10]
        layer.replace_features(kept)
        replaced = stamp(IDS["zip_codes"])
        assert replaced > layer_before
        assert len(get(api.url_of(IDS["zip_codes"], "geojson")).json()["features"]) == 10
        layer.touch()
        assert stamp(IDS["zip_codes"]) > replaced
        layer.touch(at=datetime(2030, 1, 1, tzinfo=UTC))
        assert stamp(IDS["zip_codes"]) == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
        kept[0]["properties"]["zip"] = "changed by the caller"
        assert layer.features()[0]["properties"]["zip"] != "changed by the caller"  # copies


def test_faults_hit_every_dataset_and_requests_are_counted_per_dataset():
    portal = chicago_portal(rows=40, seed=2, tables=["crimes", "traffic_crashes", "community_areas"])
    with SampleApi(portal) as api:
        api.faults.rate_limit_next = 3
        assert get(api.url_of(IDS["traffic_crashes"])).status_code == 429
        assert get(api.url_of(IDS["community_areas"], "geojson")).status_code == 429
        assert get(api.views_url(IDS["crimes"])).status_code == 429
        assert get(api.url_of(IDS["traffic_crashes"])).status_code == 200
        api.faults.malformed_next = 1
        with pytest.raises(ValueError):
            get(api.views_url(IDS["community_areas"])).json()
        assert len(api.data_requests(IDS["traffic_crashes"])) == 2
        assert len(api.data_requests(IDS["community_areas"])) == 1
        assert len(api.data_requests()) == 3 and len(api.metadata_requests()) == 2
        assert api.faults.injected == {"rate_limit": 3, "malformed": 1}


def test_key_columns_filter_and_order_and_rows_patch_by_key():
    portal = chicago_portal(rows=120, seed=6, tables=["service_requests", "traffic_crashes",
                                                      "building_permits"])
    crashes, permits = portal[IDS["traffic_crashes"]], portal[IDS["building_permits"]]
    crash_id = list(crashes.truth())[7]["crash_record_id"]
    crashes.patch(crash_id, lambda row: {**row, "street_name": "O'HARE"})
    crashes.duplicate(crash_id)
    with SampleApi(portal) as api:
        got = get(api.url_of(IDS["traffic_crashes"]), **{"$where": f"crash_record_id = '{crash_id}'"})
        assert [r["street_name"] for r in got.json()] == ["O'HARE", "O'HARE"]
        numbers = get(api.url_of(IDS["service_requests"]), **{"$select": "sr_number",
                                                              "$order": "sr_number DESC", "$limit": 5})
        keys = [r["sr_number"] for r in numbers.json()]
        assert keys == sorted(keys, reverse=True) and all(re.fullmatch(r"SR\d\d-\d{8}", k) for k in keys)
        first = int(next(permits.truth())["id"])
        ranged = get(api.url_of(IDS["building_permits"]),
                     **{"$select": "id", "$where": f"id > {first} and id <= {first + 5}"}).json()
        assert [int(r["id"]) for r in ranged] == list(range(first + 1, first + 6))
    with pytest.raises(KeyError, match="no row with crash_record_id nope"):
        crashes.patch("nope", dict)


def test_a_dataset_from_its_declaration_alone():
    columns = {"project_id": "text", "property_name": "text", "community_area": "text", "units": "text",
               "opened": "timestamp", "senior_only": "bool", "latitude": "text", "longitude": "text",
               "location": "json"}
    served = RowDataset.from_declaration("s6ha-ppgi", "project_id", columns, n_rows=300, seed=3,
                                         name="affordable_housing", title="Affordable Rental Housing")
    rows = [{k: v for k, v in r.items() if not k.startswith(":")} for r in served.truth()]
    assert len({r["project_id"] for r in rows}) == 300
    for row in rows:
        assert list(row) == [c for c in columns if c in row] and row["project_id"].isdigit()
        assert isinstance(row.get("senior_only", False), bool)
        assert FLOATING.fullmatch(row.get("opened", "2024-01-01T00:00:00.000"))
        if "latitude" in row:
            assert row["location"] == {"type": "Point",
                                       "coordinates": [float(row["longitude"]), float(row["latitude"])]}
    assert {c for r in rows for c in r} == set(columns)
    with SampleApi(served) as api:
        assert api.resource_url.endswith("/resource/s6ha-ppgi.json")
        assert get(api.resource_url, **{"$select": "count(*)", "$where": "senior_only = true"}).json() == \
            [{"count": str(sum(r.get("senior_only") is True for r in rows))}]
        assert get(api.views_url("s6ha-ppgi")).json()["name"] == "Affordable Rental Housing"
    with pytest.raises(ValueError, match="one of text, bool, json, timestamp"):
        RowDataset.from_declaration("x", "id", {"id": "integer"}, n_rows=1)


def test_chicago_portal_sizes_and_extra_declared_datasets():
    extra = {"affordable_housing": {"id": "s6ha-ppgi", "primary_key": "project_id",
                                    "columns": {"project_id": "text", "units": "text"}}}
    portal = chicago_portal({"crimes": 30, "affordable_housing": 12}, declared=extra)
    assert len(portal[IDS["crimes"]]) == 30 and len(portal["s6ha-ppgi"]) == 12
    assert len(portal[IDS["service_requests"]]) == 5_000  # the defaults for the rest
    assert set(chicago_portal(5, tables=["zip_codes", "crimes"])) == {IDS["zip_codes"], IDS["crimes"]}
    with pytest.raises(KeyError, match="unknown tables"):
        chicago_portal({"crimez": 3})


def test_cli_options():
    with pytest.raises(SystemExit):
        main(["--tables", "crimes,nope"])
    with pytest.raises(SystemExit):
        main(["--table-rows", "crimes"])


def test_fixed_rows_of_any_model_are_served_as_given():
    source = chicago_portal(rows=60, seed=8, tables=["service_requests"])[IDS["service_requests"]]
    rows = list(source.truth())
    copy = RowDataset.of_rows(source.model, rows)

    def without_sid(served):
        return sorted(({k: v for k, v in r.items() if k != ":id"} for r in served),
                      key=lambda r: r["sr_number"])

    assert without_sid(copy.truth()) == without_sid(rows)
    revision = copy.apply_revision(new_rows=2, updated_rows=3)
    assert set(revision.updated_ids) <= {r["sr_number"] for r in rows}
    assert len(copy) == 62
