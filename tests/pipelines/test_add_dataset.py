"""README "Adding a dataset": one entry in datasets.yml is all the loading side needs.

The test writes a copy of datasets.yml with one more entry (a dataset the code has
never heard of), points PULSE_CHICAGO_DATASETS at it, and checks that the source
loads it, the geocoder locates its points and Dagster builds its asset and schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from pipelines.chicago import load_chicago
from pipelines.chicago.settings import DATASETS_FILE, DATASETS_FILE_ENV, DatasetConfigError, load_datasets
from sample_api import SampleApi
from sample_api.rows import RowDataset
from tests.conftest import query

NEW = {
    "id": "s6ha-ppgi",
    "title": "Affordable Rental Housing Developments",
    "primary_key": "project_id",
    "format": "rows",
    "schedule": "0 7 * * *",
    "coordinates": ["latitude", "longitude"],
    "columns": {"project_id": "text", "property_name": "text", "units": "text",
                "opened": "timestamp", "senior_only": "bool", "latitude": "text",
                "longitude": "text"},
}


@pytest.fixture
def extended_config(tmp_path, monkeypatch):
    entries = yaml.safe_load(DATASETS_FILE.read_text())
    entries["affordable_housing"] = NEW
    path = tmp_path / "datasets.yml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    monkeypatch.setenv(DATASETS_FILE_ENV, str(path))
    return path


def test_a_dataset_added_by_configuration_loads(extended_config, warehouse_db, tmp_path):
    declared = load_datasets()["affordable_housing"]
    assert declared.columns["project_id"]["primary_key"]
    served = RowDataset.from_declaration(NEW["id"], NEW["primary_key"], NEW["columns"], n_rows=400,
                                         seed=3, name="affordable_housing")
    truth = {row[NEW["primary_key"]] for row in served.truth()}
    query(warehouse_db, "drop table if exists raw_chicago.affordable_housing")
    with SampleApi({NEW["id"]: served}) as api:
        infos = load_chicago(["affordable_housing"], credentials=warehouse_db.url(),
                             pipelines_dir=tmp_path / "dlt", base_url=api.url, backoff_factor=0)
        assert set(infos) == {"affordable_housing"}
        loaded = {k for (k,) in query(warehouse_db, "select project_id from raw_chicago.affordable_housing")}
        assert loaded == truth
        # incremental like every rows dataset: a revision loads only what changed
        revision = served.apply_revision(new_rows=10, updated_rows=15)
        load_chicago(["affordable_housing"], credentials=warehouse_db.url(),
                     pipelines_dir=tmp_path / "dlt", base_url=api.url, backoff_factor=0)
    count = query(warehouse_db, "select count(*) from raw_chicago.affordable_housing")[0][0]
    assert count == len(truth) + len(revision.new_ids)


def test_dagster_builds_its_asset_and_schedule(extended_config, dbt_manifest):
    # A fresh process: definitions are built once per import, from this moment's datasets.yml.
    code = (
        "import json; from orchestration.definitions import defs\ndefs = defs()\n"
        "g = defs.resolve_asset_graph()\n"
        "print(json.dumps({'assets': [k.to_user_string() for k in g.get_all_asset_keys()],\n"
        "  'schedules': {s.name: s.cron_schedule for s in defs.schedules}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ}, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert "raw_chicago/affordable_housing" in seen["assets"]
    assert "api/chicago/affordable_housing" in seen["assets"]
    assert seen["schedules"]["chicago_affordable_housing_schedule"] == "0 7 * * *"


def test_geocoder_reads_the_same_configuration(extended_config):
    from pipelines.geo import point_tables

    assert point_tables()["affordable_housing"] == ("latitude", "longitude")


def test_a_bad_entry_is_refused_with_where_and_what(tmp_path):
    path = tmp_path / "datasets.yml"
    path.write_text(yaml.safe_dump({"parks": {"id": "ejsh-fztr", "primary_key": "park_no",
                                              "columns": {"park_no": "integer"}}}))
    with pytest.raises(DatasetConfigError, match=r"dataset 'parks', column 'park_no': type must be"):
        load_datasets(path)
