"""What a killed run leaves in dlt's working folder must never stop the next run:
- killed while normalize commits a package: the package twice, whole in the load folder and
  half-deleted in the extract folder;
- killed after the warehouse committed a load job, before dlt recorded it: a job to run again."""

import shutil
from pathlib import Path

import pytest

from pipelines.chicago import dataset_source
from pipelines.load import LOADER_FILE_FORMAT
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import load, raw_rows, truth_rows


def test_a_half_deleted_extract_package_does_not_block_later_runs(fresh_raw, warehouse_db,
                                                                    tmp_path):
    with SampleApi(CrimesDataset(1_500, seed=31)) as api:
        load(api, fresh_raw, warehouse_db)
        api.dataset.apply_revision(new_rows=100, updated_rows=100)
        fresh_raw.extract(dataset_source("crimes", base_url=api.url, backoff_factor=0),
                          loader_file_format=LOADER_FILE_FORMAT)
        extracted = fresh_raw._get_normalize_storage().extracted_packages
        (load_id,) = extracted.list_packages()
        package = extracted.storage.make_full_path(extracted.get_package_path(load_id))
        shutil.copytree(package, tmp_path / "copy")
        fresh_raw.normalize()
        # what a SIGKILL during the commit's delete leaves: the package without its jobs
        shutil.copytree(tmp_path / "copy", package)
        shutil.rmtree(f"{package}/new_jobs")

        load(api, fresh_raw, warehouse_db)  # finishes the normalized package, then runs

        assert extracted.list_packages() == []
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)


@pytest.mark.parametrize("left_in", ["started_jobs", "new_jobs"])
def test_a_job_the_warehouse_committed_before_a_kill_is_not_loaded_again(
        fresh_raw, warehouse_db, tmp_path, left_in):
    """A kill after the warehouse committed the load's jobs and before dlt recorded them
    leaves the package pending; dlt would run the pipeline state's insert again and fail
    on its unique `_dlt_id` at every later run. `left_in` is where dlt leaves such a job:
    started (the kill) or new (a later run that failed on it)."""
    with SampleApi(CrimesDataset(1_500, seed=32)) as api:
        load(api, fresh_raw, warehouse_db)
        api.dataset.apply_revision(new_rows=100, updated_rows=100)
        fresh_raw.extract(dataset_source("crimes", base_url=api.url, backoff_factor=0),
                          loader_file_format=LOADER_FILE_FORMAT)
        fresh_raw.normalize()
        (load_id,) = fresh_raw.list_normalized_load_packages()
        load_dir = Path(fresh_raw.working_dir) / "load"
        shutil.copytree(load_dir / "normalized" / load_id, tmp_path / "copy")
        fresh_raw.load(credentials=warehouse_db.url())
        # what the kill leaves: every job committed in the warehouse, none recorded as done
        shutil.rmtree(load_dir / "loaded" / load_id)
        shutil.copytree(tmp_path / "copy", load_dir / "normalized" / load_id)
        if left_in == "started_jobs":
            jobs = load_dir / "normalized" / load_id
            for job in (jobs / "new_jobs").glob("_dlt_pipeline_state.*"):
                job.rename(jobs / "started_jobs" / job.name)

        load(api, fresh_raw, warehouse_db)  # finishes the pending package, then runs

        assert fresh_raw.list_normalized_load_packages() == []
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)
        (states,) = query(warehouse_db, "select count(*) from raw_chicago._dlt_pipeline_state "
                                        "where _dlt_load_id = %s", (load_id,))
        assert states == (1,)
