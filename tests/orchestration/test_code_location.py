"""The code location is lazy, and Dagster loads through the same function as everything else.

- Importing `orchestration.definitions` touches no database, no network, no dbt and no
  project file: Dagster's tools and the run workers import it often. The graph is built
  when `defs()` is called, and that does read the manifest and the dataset declarations.
- The ingest assets run `pipelines.load.run_source`, the function `pulse load`, the
  benchmark and the reliability suite's crash reruns call, so their guarantees hold for
  what the schedules run.
"""

import json
import shutil
import subprocess
import sys

import dagster as dg

from pulse.warehouse import PROJECT_ROOT
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import raw_rows, truth_rows

# Runs in a child process: records what importing, then building, the definitions does.
AUDIT = """
import json, sys
root, phase, seen = sys.argv[1], ["import"], {"import": [], "build": []}

def hook(event, args):
    if event == "socket.connect":
        seen[phase[0]].append(f"connect {args[1]!r}")
    elif event == "subprocess.Popen" and args[0] != "file":  # croniter asks `file` the arch
        seen[phase[0]].append(f"run {args[1]!r}")
    elif event == "open" and isinstance(args[0], str) and args[0].startswith(root):
        path = args[0][len(root) + 1:]
        if not path.startswith(".venv/") and "__pycache__" not in path \\
                and not path.endswith((".py", ".pyc")):
            seen[phase[0]].append(f"open {path}")

sys.addaudithook(hook)
import orchestration.definitions
phase[0] = "build"
orchestration.definitions.defs()
print(json.dumps(seen))
"""


def test_importing_the_definitions_does_no_work(dbt_manifest, tmp_path):
    nodes = json.loads(dbt_manifest.read_text())["nodes"].values()
    database = next(node["database"] for node in nodes if node.get("database"))
    # an unreachable warehouse: any attempt to reach it would be recorded; the manifest's
    # database, so that building finds it fresh and runs no `dbt parse`
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PGDATABASE": database,
           "WAREHOUSE_URL": "postgresql://nobody:secret@127.0.0.1:9/nowhere",
           # the folder dbt_manifest prepared (a worker's own under pytest-xdist)
           "DBT_TARGET_PATH": str(dbt_manifest.parent)}
    run = subprocess.run([sys.executable, "-c", AUDIT, str(PROJECT_ROOT)], cwd=PROJECT_ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["import"] == [], f"importing orchestration.definitions did: {seen['import']}"
    # the hook does see work: building the definitions reads the declarations and manifest
    assert f"open {dbt_manifest.relative_to(PROJECT_ROOT)}" in seen["build"]
    assert "open pipelines/chicago/datasets.yml" in seen["build"]
    assert not [event for event in seen["build"] if event.startswith(("connect", "run"))]


def test_the_ingest_asset_runs_the_one_load_function(fresh_raw, warehouse_db, dbt_manifest,
                                                     monkeypatch):
    from orchestration.defs.ingest import chicago_ingest
    from orchestration.lib.resources import resources
    from pipelines import load
    from pipelines.chicago import load_dataset

    # the asset keeps its local dlt state in the default folder: start it over with raw
    shutil.rmtree(load.default_pipelines_dir() / "chicago_crimes", ignore_errors=True)
    calls = []
    real_run_source = load.run_source

    def recorded(pipeline, source, **kwargs):
        calls.append((pipeline.pipeline_name, sorted(source.selected_resources)))
        return real_run_source(pipeline, source, **kwargs)

    monkeypatch.setattr(load, "run_source", recorded)
    monkeypatch.setenv("SOURCES__CHICAGO__BACKOFF_FACTOR", "0")
    with SampleApi(CrimesDataset(1_200, seed=41)) as api:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        with dg.instance_for_test() as instance:
            result = dg.materialize([chicago_ingest()["crimes"]], resources=resources(),
                                    instance=instance)
        assert result.success
        assert calls == [("chicago_crimes", ["crimes"])]  # the schedules' path
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)

        api.dataset.apply_revision(new_rows=50, updated_rows=50)
        load_dataset("crimes", fresh_raw, credentials=warehouse_db.url(), base_url=api.url)
        assert calls[-1] == ("chicago_crimes", ["crimes"])  # `pulse load`'s and the reruns' path
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)

        # The warehouse is the state of record: with raw dropped, the asset's local dlt
        # state (a cursor past every row) is forgotten and the next load is a full one.
        query(warehouse_db, "drop schema raw_chicago cascade")
        with dg.instance_for_test() as instance:
            assert dg.materialize([chicago_ingest()["crimes"]], resources=resources(),
                                  instance=instance).success
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)
