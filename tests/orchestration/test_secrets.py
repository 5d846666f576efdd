"""The app token is used (the API demands it) and appears nowhere it could leak:
not in logs, the Dagster event log, dbt's artifacts, dlt's local state or the raw tables."""

import logging
import os

import dagster as dg
from dlt.common.versioned_state import decompress_state

from pipelines.load import default_pipelines_dir
from pulse.dbt import target_dir
from pulse.warehouse import PROJECT_ROOT
from sample_api import SampleApi, chicago_portal
from tests.conftest import query, run_dbt

TOKEN = "pulse-known-token-4f1c9a7e2b"


def _files_containing(root, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.stat().st_size < 50_000_000:
                if needle.encode() in path.read_bytes():
                    hits.append(str(path))
        except FileNotFoundError:  # dbt of the other xdist worker rotated its log away
            continue
    return hits


def test_token_never_leaks(warehouse_db, dbt_manifest, monkeypatch, caplog, capfd, tmp_path):
    from orchestration.definitions import defs

    defs = defs()

    caplog.set_level(logging.DEBUG)
    for schema in ("raw_chicago", "staging", "enriched", "marts"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    # the seeds, which no refresh job selects (docs/operations.md): not left to earlier tests
    assert run_dbt("seed").returncode == 0
    monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "reports"))
    portal = chicago_portal(rows=500, seed=13)
    with SampleApi(portal, required_token=TOKEN) as api:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        monkeypatch.setenv("SOURCES__CHICAGO__APP_TOKEN", TOKEN)
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
        with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
            result = defs.resolve_job_def("chicago_refresh").execute_in_process(instance=instance)
            assert result.success
            assert all(r.token_sent for r in api.requests)  # the token was used
            events = instance.all_logs(result.run_id)
            assert events and not [e for e in events if TOKEN in str(e)]

    out = capfd.readouterr()
    assert TOKEN not in out.out and TOKEN not in out.err
    assert TOKEN not in caplog.text
    assert _files_containing(tmp_path, TOKEN) == []  # Dagster storage and compute logs
    assert _files_containing(target_dir(), TOKEN) == []  # dbt artifacts
    if (PROJECT_ROOT / "logs").exists():
        assert _files_containing(PROJECT_ROOT / "logs", TOKEN) == []  # dbt.log
    assert _files_containing(default_pipelines_dir(), TOKEN) == []  # dlt state and traces
    raw = query(warehouse_db, "select count(*) from raw_chicago.crimes c where c::text like %s",
                (f"%{TOKEN}%",))
    assert raw == [(0,)]
    # dlt keeps its state in the destination compressed: decompress before looking
    states = query(warehouse_db, "select state from raw_chicago._dlt_pipeline_state")
    assert states and all(TOKEN not in str(decompress_state(s)) for (s,) in states)
    assert os.environ["SOURCES__CHICAGO__APP_TOKEN"] == TOKEN  # the check above used it
