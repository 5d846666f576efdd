"""A run killed while dlt's normalize commits a package leaves the package twice: whole in
the load folder, half-deleted in the extract folder. The next run must not get stuck."""

import shutil

from pipelines.chicago import dataset_source
from pipelines.load import LOADER_FILE_FORMAT
from sample_api import CrimesDataset, SampleApi
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
