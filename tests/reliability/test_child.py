"""The child a kill strikes loads the way the Dagster ingest assets do: through
run_source (its warehouse lock included), as the loader role, and says where it is."""

import os
import time

from pipelines.chicago import dataset_pipeline
from pipelines.load import load_lock_name
from pulse import locks, roles
from reliability.kill import Child
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query

ROWS = 500


def lock_waiters(conn, name: str) -> list[str]:
    """Roles of the sessions waiting for (or holding) the lock `name`, by pulse.locks' naming."""
    return [user for (user,) in query(conn, "select usename from pg_stat_activity "
                                            "where application_name like %s",
                                      (f"pulse lock: {name}%",))]


def test_the_kill_child_loads_through_run_source_as_the_loader(warehouse_db, fresh_raw, tmp_path):
    name = load_lock_name(dataset_pipeline("crimes", pipelines_dir=tmp_path / "dlt"))
    loader = roles.connection("loader").user
    env = {**os.environ, "PULSE_ROLES": "on", "RUNTIME__LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    args = {"base_url": "", "pipelines_dir": str(tmp_path / "dlt"),
            "database": warehouse_db.database, "dataset": "crimes"}
    with SampleApi(CrimesDataset(ROWS, seed=3)) as api:
        args["base_url"] = api.url
        # another run holds the dataset's lock: the child must wait for it before extracting
        with locks.exclusive(warehouse_db.url(), name):
            child = Child.python("load", args, env, tmp_path / "child.log")
            deadline = time.monotonic() + 60
            while loader not in lock_waiters(warehouse_db, name) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert loader in lock_waiters(warehouse_db, name), child.log.read_text()[-2000:]
            time.sleep(1)
            assert child.run.markers == []  # nothing extracted while the lock is held
        run = child.finish(timeout=120)
    assert run.returncode == 0, run.stderr
    phases = [phase for phase, _ in run.markers]
    assert phases[:3] == ["extract", "normalize", "load"] and phases[-1] == "done"
    assert {"load.copy", "load.merge", "load.merged"} <= set(phases)
    assert query(warehouse_db, "select count(*) from raw_chicago.crimes") == [(ROWS,)]
