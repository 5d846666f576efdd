"""The benchmark harness cannot rot: CI runs the Chicago section at a tiny scale.

No timing is asserted (timings live in `make bench`); the test checks that every step
ran, every figure and ratio was written, every dataset of the portal was loaded, and
each refresh loaded only the change.
"""

import json
import subprocess
import sys

from pipelines.chicago.settings import load_datasets
from pulse.warehouse import PROJECT_ROOT
from sample_api import chicago_portal

DATASETS = load_datasets()
OTHER_ROWS = [n for n, d in DATASETS.items() if not d.is_boundary and n != "crimes"]
BOUNDARIES = [n for n, d in DATASETS.items() if d.is_boundary]


def test_suite_runs_end_to_end_at_tiny_scale(warehouse_db, dbt_manifest, tmp_path):
    run = subprocess.run(
        # the Chicago section; tests/bench/test_countries_bench.py runs the country one
        [sys.executable, "-m", "bench.suite", "--only", "chicago", "--rows", "4000", "--repeat", "1",
         "--compare-rows", "2000", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    figures = result["figures"]
    per_dataset = [f"{step}_{name}" for name in OTHER_ROWS for step in ("ceiling", "backfill", "refresh")]
    for key in ("ceiling", "backfill", "boundaries", "geocode_backfill", "dbt_full", "refresh_ingest",
                "boundaries_refresh", "geocode_refresh", "dbt_incremental", "noop_ingest",
                "noop_geocode", "noop_dbt", "defs_load", "materialize_small", "compare_pulse",
                "compare_untuned", "geocode", *per_dataset):
        assert figures[key]["seconds"]["median"] > 0, key
        assert figures[key]["peak_rss_mb"] > 0, key
    assert figures["backfill"]["rows"] == figures["ceiling"]["rows"] == 4000
    assert figures["compare_untuned"]["rows"] == figures["compare_pulse"]["rows"] == 2000
    assert figures["geocode"]["rows"] == 4000  # --geocode-points defaults to --rows
    assert result["targets"]["geocode 1M points < 60 s"] is not None
    # one 1% revision: 20 new + 20 updated rows, plus the rows the overlap window re-reads
    # (the last batch stamped within 60 s before the cursor); never the whole table
    refreshed = figures["refresh_ingest"]["rows"]
    assert 40 <= refreshed < 4000 // 2
    assert figures["dbt_incremental"]["rows_rebuilt"]["int_chicago__crimes_enriched"] == refreshed

    # every other rows dataset at --rows / 5, its ceiling the same rows, its refresh the change
    assert result["dataset_rows"] == 800
    for name in OTHER_ROWS:
        assert figures[f"backfill_{name}"]["rows"] == figures[f"ceiling_{name}"]["rows"] == 800, name
        assert 8 <= figures[f"refresh_{name}"]["rows"] < 800 // 2, name  # 4 new + 4 updated + overlap
        assert figures["dbt_full"]["rows_rebuilt"][f"int_chicago__{name}_enriched"] == 800, name
        # the incremental build rebuilds what the refresh loaded (and rows it re-geocoded)
        rebuilt = figures["dbt_incremental"]["rows_rebuilt"][f"int_chicago__{name}_enriched"]
        assert figures[f"refresh_{name}"]["rows"] <= rebuilt < 800 // 2, name
    # both layers loaded whole, then skipped: the portal's rowsUpdatedAt did not move
    layers = chicago_portal(rows=1, tables=BOUNDARIES)
    assert figures["boundaries"]["rows"] == sum(len(layer) for layer in layers.values())
    assert figures["boundaries_refresh"]["rows"] == 0
    # the geocoder located the backfill's points, then only the new ones, then none
    assert figures["geocode_backfill"]["rows"] > figures["geocode_refresh"]["rows"] > 0
    assert figures["noop_geocode"]["rows"] == 0

    assert set(result["ratios"]) == {
        "backfill_vs_ceiling", "backfill_vs_untuned", "refresh_vs_backfill", "dbt_incremental_vs_full",
        "dbt_incremental_vs_full_in_dbt", "enriched_model_incremental_vs_full",
        "crimes_refresh_vs_backfill", "other_enriched_incremental_vs_full",
        *(f"{name}_{r}" for name in OTHER_ROWS for r in ("backfill_vs_ceiling", "refresh_vs_backfill")),
    }
    assert all(isinstance(met, bool) for met in result["targets"].values())
    table = (tmp_path / "latest.md").read_text()
    assert "| Pulse / ceiling throughput |" in table
    for name in OTHER_ROWS:
        assert f"| {name} | 800 |" in table and f"| {name}: Pulse / ceiling throughput |" in table
