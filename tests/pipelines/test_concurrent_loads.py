"""Two loads of one dataset at once: the second waits for the first, nothing is lost.

The loads run in two processes, as two Dagster runs or a run and a `pulse load` would,
with roles on (as the loader) and one dlt folder, as on one machine.
"""

import os
import subprocess
import sys
import threading
import time

import pytest

from pipelines.load import load_lock_name
from pulse import locks
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import load, raw_rows, truth_rows

ROWS = 2_000
REVISED = 200

LOAD_SCRIPT = """
import sys
from pipelines.chicago import dataset_pipeline, load_dataset
pipeline = dataset_pipeline("crimes", pipelines_dir=sys.argv[1])
load_dataset("crimes", pipeline, base_url=sys.argv[2], backoff_factor=0, page_size=5_000)
"""


def start_load(pipelines_dir, api: SampleApi) -> subprocess.Popen:
    # No credentials: run_source asks for the loader role's, as the Dagster asset does.
    return subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, str(pipelines_dir), api.url],
                            env={**os.environ, "PULSE_ROLES": "on"}, stderr=subprocess.PIPE,
                            text=True)


def sessions_at_lock(conn, name: str) -> int:
    # this database only: the other xdist worker's loads take locks of the same name
    return query(conn, "select count(*) from pg_stat_activity where application_name like %s "
                       "and datname = current_database()", (f"pulse lock: {name}%",))[0][0]


def test_a_slow_run_never_merges_its_older_snapshot_over_a_newer_run(warehouse_db, fresh_raw,
                                                                      tmp_path):
    """Run A reads a snapshot, then the portal revises those rows and run B starts while A
    is still busy. Without a lock B loads the new versions and moves the cursor, then A
    merges its older snapshot over them: the newer versions never come back."""
    with SampleApi(CrimesDataset(ROWS, seed=21)) as api:
        load(api, fresh_raw, warehouse_db)  # the backfill; its state is in tmp_path/dlt
        api.dataset.apply_revision(new_rows=0, updated_rows=REVISED, seed=1)

        snapshot_taken, release = threading.Event(), threading.Event()
        serve = api.dataset.query

        def snapshot_then_revise(q):
            rows = serve(q)
            if not snapshot_taken.is_set():  # run A's page: then the same rows change again
                api.dataset.apply_revision(new_rows=0, updated_rows=REVISED, seed=1)
                snapshot_taken.set()
                release.wait(60)  # A is slow to get its (now older) snapshot back
            return rows

        api.dataset.query = snapshot_then_revise
        run_a = start_load(tmp_path / "dlt", api)
        assert snapshot_taken.wait(120), "run A never asked for its page"
        run_b = start_load(tmp_path / "dlt", api)
        name = load_lock_name(fresh_raw)
        deadline = time.monotonic() + 30
        while sessions_at_lock(warehouse_db, name) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # until B is at the lock A holds (with no lock: B is done)
        time.sleep(1)
        b_waited = run_b.poll() is None
        release.set()
        a_err, b_err = run_a.communicate(timeout=120)[1], run_b.communicate(timeout=120)[1]
        assert run_a.returncode == 0, a_err
        assert run_b.returncode == 0, b_err

        assert raw_rows(warehouse_db) == truth_rows(api.dataset)
        assert query(warehouse_db, "select count(*) - count(distinct id) from raw_chicago.crimes") \
            == [(0,)]
        assert b_waited and "holds the lock; waiting for it to finish" in b_err


def test_a_run_that_waits_too_long_does_nothing_and_says_who_holds_the_lock(warehouse_db):
    url = warehouse_db.url()
    with locks.exclusive(url, "load raw_test.example"):
        with pytest.raises(locks.LockTimeout) as err:
            with locks.exclusive(url, "load raw_test.example", wait=1):
                pytest.fail("entered a lock another run holds")
    message = str(err.value)
    assert "load raw_test.example" in message and f"pid {os.getpid()}" in message
    assert "PULSE_LOCK_WAIT_SECONDS" in message
    with locks.exclusive(url, "load raw_test.example", wait=0):
        pass  # released when its holder's block ended
