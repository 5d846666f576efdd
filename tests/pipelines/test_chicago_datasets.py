"""Each declared dataset: a full load and a revision load equal the API's ground truth.

Row datasets load incrementally and merge on their key; boundary layers are replaced
whole when the portal's rowsUpdatedAt moves and skipped otherwise.
"""

from __future__ import annotations

import json

import pytest

from pipelines.chicago import dataset_pipeline, load_dataset
from pipelines.chicago.settings import load_datasets
from reliability.verify import normal, raw_column  # raw and truth compared as the suite does
from sample_api import SampleApi, chicago_portal
from tests.conftest import query

DATASETS = load_datasets()
ROW_DATASETS = [name for name, d in DATASETS.items() if not d.is_boundary]
BOUNDARIES = [name for name, d in DATASETS.items() if d.is_boundary]


def declared(name: str) -> list[str]:
    return [c for c in DATASETS[name].columns if not c.startswith("socrata_")]


def raw_rows(conn, name: str) -> dict:
    columns = declared(name)
    quoted = ", ".join(f'"{raw_column(c)}"' for c in columns)  # `permit_` is `permitx`
    rows = query(conn, f"select {quoted} from raw_chicago.{name}")
    key = columns.index(DATASETS[name].primary_key)
    return {row[key]: tuple(normal(v) for v in row) for row in rows}


def truth_rows(dataset, name: str) -> dict:
    columns, key = declared(name), DATASETS[name].primary_key
    return {row[key]: tuple(normal(row.get(c)) for c in columns) for row in dataset.truth()}


def served(portal: dict, name: str):
    return portal[DATASETS[name].id]


@pytest.mark.parametrize("name", ROW_DATASETS)
def test_full_then_revision_load_equal_the_truth(name, warehouse_db, tmp_path):
    # the whole schema: dlt's stored schema would still list a table dropped alone
    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    portal = chicago_portal(rows=800, seed=23)
    dataset = served(portal, name)
    pipeline = dataset_pipeline(name, tmp_path / "dlt")
    with SampleApi(portal) as api:
        load_dataset(name, pipeline, credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
        assert raw_rows(warehouse_db, name) == truth_rows(dataset, name)

        revision = dataset.apply_revision(new_rows=25, updated_rows=40)
        before = len(api.data_requests())
        load_dataset(name, pipeline, credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
        fetched = sum(r.rows for r in api.data_requests()[before:])
    assert raw_rows(warehouse_db, name) == truth_rows(dataset, name)
    assert len(revision.new_ids) == 25 and len(revision.updated_ids) == 40
    assert 65 <= fetched < 800, "a revision load reads the changed rows (and the overlap), not all"


@pytest.mark.parametrize("name", BOUNDARIES)
def test_boundaries_replace_only_when_the_portal_says_they_changed(name, warehouse_db, tmp_path):
    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    portal = chicago_portal(rows=10, seed=23)
    layer = served(portal, name)
    key = DATASETS[name].primary_key
    pipeline = dataset_pipeline(name, tmp_path / "dlt")
    features = layer.features()
    with SampleApi(portal) as api:
        load_dataset(name, pipeline, credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
        rows = query(warehouse_db, f"select {key}, the_geom, _dlt_load_id from raw_chicago.{name}")
        assert sorted((r[0], json.dumps(r[1], sort_keys=True)) for r in rows) == sorted(
            (f["properties"][key], json.dumps(f["geometry"], sort_keys=True)) for f in features)
        first_load = {r[2] for r in rows}

        load_dataset(name, pipeline, credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
        assert {r[0] for r in query(warehouse_db, f"select _dlt_load_id from raw_chicago.{name}")} \
            == first_load, "an unchanged layer is skipped, not reloaded"
        assert not [r for r in api.requests if r.path.endswith(".geojson")][1:], \
            "the unchanged layer was fetched again"

        kept = features[: len(features) // 2]
        layer.replace_features(kept)
        load_dataset(name, pipeline, credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
    keys = [k for (k,) in query(warehouse_db, f"select {key} from raw_chicago.{name}")]
    assert sorted(keys) == sorted(f["properties"][key] for f in kept), "a changed layer is replaced whole"
