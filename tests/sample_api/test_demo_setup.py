"""What `pulse demo` and `pulse dev --local-apis` set up around Dagster: the local APIs with
every source pointed at them, and the instance `pulse dev` reads, freed of runs a killed
demo left started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import dagster as dg

from sample_api.demo import DEMO_TAG, PID_TAG, dagster_instance, local_apis


def test_the_local_apis_serve_and_the_sources_point_at_them():
    saved = dict(os.environ)  # the demo sets the sources' configuration for its process
    try:
        _serve_and_read()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _serve_and_read():
    with local_apis(rows=200, revision_share=0.01, state={"runs": 1}):
        chicago = os.environ["SOURCES__CHICAGO__BASE_URL"]
        with urllib.request.urlopen(f"{chicago}/resource/ijzp-q8t2.json?$limit=5", timeout=10) as r:
            assert len(json.loads(r.read())) == 5
        worldbank = os.environ["SOURCES__WORLDBANK__BASE_URL"]
        with urllib.request.urlopen(f"{worldbank}/country?format=json", timeout=10) as r:
            assert r.status == 200
        assert os.environ["SOURCES__LOKI__BASE_URL"].startswith("http://127.0.0.1:")


def test_a_run_a_killed_demo_left_started_is_failed_and_frees_its_slots(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.get() as instance:
        for run_id, pid in (("a" * 32, int(dead.stdout)), ("b" * 32, 1)):  # 1 is alive
            instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=run_id,
                                           status=dg.DagsterRunStatus.STARTED,
                                           tags={DEMO_TAG: "true", PID_TAG: str(pid)}))
    instance = dagster_instance()
    assert instance.get_run_by_id("a" * 32).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("b" * 32).status == dg.DagsterRunStatus.STARTED
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # the pools pulse dev sets


def test_pulse_dev_offers_the_local_apis():
    run = subprocess.run([str(Path(sys.executable).with_name("pulse")), "dev", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--local-apis" in run.stdout
