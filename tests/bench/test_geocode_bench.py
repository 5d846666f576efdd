"""`python -m bench.geocode` runs on its own and checks its answers (tiny scale, no timing asserted)."""

import json
import subprocess
import sys

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT


def test_geocode_benchmark_runs_at_tiny_scale(warehouse_db):
    run = subprocess.run(
        [sys.executable, "-m", "bench.geocode", "--points", "3000", "--repeat", "2", "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["points"] == 3000 and len(result["runs"]) == 2
    assert result["seconds"] > 0 and result["in_memory_seconds"] > 0 and result["peak_rss_mb"] > 0
    databases = warehouse.query(warehouse_db, "select datname from pg_database where datname = %s",
                                ("pulse_bench_geocode",))
    assert databases == []  # the scratch database is gone
