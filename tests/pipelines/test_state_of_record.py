"""The warehouse is the state of record: local dlt state it does not hold is dropped, the
state folder follows the warehouse, and `pulse reset` reloads on purpose."""

import os
import subprocess
import sys
from pathlib import Path

from pipelines.load import default_pipelines_dir
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import fetched_rows, load, raw_rows, truth_rows

ROWS = 3_000
PULSE = str(Path(sys.executable).with_name("pulse"))


def test_a_warehouse_restored_from_an_older_backup_is_resumed_from_its_own_state(
        fresh_raw, warehouse_db):
    """The local state got ahead of the warehouse (restored from a backup taken before
    the last load): the next load resumes from the warehouse's cursor, not the local one."""
    with SampleApi(CrimesDataset(ROWS, seed=31)) as api:
        load(api, fresh_raw, warehouse_db, overlap_seconds=0)
        backup = ("crimes", "_dlt_pipeline_state", "_dlt_version", "_dlt_loads")
        for table in backup:
            query(warehouse_db, f"create table public.backup_{table.strip('_')} as "
                                f"select * from raw_chicago.{table}")
        revision = api.dataset.apply_revision(new_rows=100, updated_rows=100)
        load(api, fresh_raw, warehouse_db, overlap_seconds=0)
        for table in backup:  # the restore
            query(warehouse_db, f"truncate raw_chicago.{table}")
            query(warehouse_db, f"insert into raw_chicago.{table} "
                                f"select * from public.backup_{table.strip('_')}")
            query(warehouse_db, f"drop table public.backup_{table.strip('_')}")
        assert not set(revision.new_ids) & raw_rows(warehouse_db).keys()

        api.requests.clear()
        load(api, fresh_raw, warehouse_db, overlap_seconds=0)
        assert fetched_rows(api) >= 200, "resumed from the local cursor, past the revision"
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)


def test_the_state_folder_follows_the_embedded_warehouse(monkeypatch, tmp_path):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("PULSE_WAREHOUSE_DIR", str(tmp_path / "other"))
    assert default_pipelines_dir().is_relative_to(tmp_path / "other")


def test_pulse_reset_reloads_one_dataset_from_the_beginning(fresh_raw, warehouse_db, tmp_path):
    with SampleApi(CrimesDataset(ROWS, seed=32)) as api:
        load(api, fresh_raw, warehouse_db)
        env = {**os.environ, "PULSE_ROLES": "on"}
        asked = subprocess.run([PULSE, "reset", "chicago", "--dataset", "crimes"], env=env,
                               capture_output=True, text=True)
        assert asked.returncode == 2 and "--yes" in asked.stdout
        assert query(warehouse_db, "select count(*) from raw_chicago.crimes") == [(ROWS,)]

        # the CLI's own pipelines folder is not this test's: reset that one in-process
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from pipelines.chicago import dataset_pipeline; "
             "from pipelines.reset import reset_pipeline; "
             "print(reset_pipeline(dataset_pipeline('crimes', pipelines_dir=sys.argv[1])))",
             str(fresh_raw.pipelines_dir)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "raw_chicago.crimes" in done.stdout
        assert query(warehouse_db, "select to_regclass('raw_chicago.crimes')") == [(None,)]
        assert query(warehouse_db, "select count(*) from raw_chicago._dlt_pipeline_state "
                                   "where pipeline_name = 'chicago_crimes'") == [(0,)]

        api.requests.clear()
        load(api, fresh_raw, warehouse_db)
        assert fetched_rows(api) == ROWS
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)
