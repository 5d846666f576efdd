"""A Chicago dataset id is a Socrata 4x4 or nothing is requested (issue #13, item 9).

The id goes into request paths (`/resource/<id>.json`, `/api/views/<id>.json`): an id
carrying a path would send the load to another endpoint of the portal.
"""

from __future__ import annotations

import pytest
import yaml

from pipelines.chicago import dataset_pipeline, load_dataset
from pipelines.chicago.settings import DATASETS_FILE, DATASETS_FILE_ENV, DatasetConfigError
from sample_api import CrimesDataset, SampleApi

BAD_IDS = ["abcd-1234/../../other", "../../api/views/ijzp-q8t2", "ijzp-q8t2?$limit=1",
           "IJZP-Q8T2", "ijzp-q8t2 ", "ijzpq8t2"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("name", ["crimes", "community_areas"])  # a rows dataset, a boundary layer
def test_an_id_that_is_not_a_4x4_is_refused_before_any_request(name, bad_id, tmp_path, monkeypatch,
                                                                warehouse_db):
    entries = yaml.safe_load(DATASETS_FILE.read_text())
    entries[name]["id"] = bad_id
    path = tmp_path / "datasets.yml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    monkeypatch.setenv(DATASETS_FILE_ENV, str(path))

    with SampleApi(CrimesDataset(10, seed=1)) as api:
        with pytest.raises(DatasetConfigError) as failure:
            load_dataset(name, dataset_pipeline(name, tmp_path / "dlt"),
                         credentials=warehouse_db.url(), base_url=api.url, backoff_factor=0)
        assert api.requests == [], "a request was sent with the bad id"
    message = str(failure.value)
    assert f"dataset {name!r}" in message and repr(bad_id) in message
    assert "^[a-z0-9]{4}-[a-z0-9]{4}$" in message
