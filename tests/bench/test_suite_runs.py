"""The benchmark harness cannot rot: CI runs the whole suite at a tiny scale.

No timing is asserted (timings live in `make bench`); the test checks that every step
ran, every figure and ratio was written, and the refresh loaded only the change.
"""

import json
import subprocess
import sys

from pulse.warehouse import PROJECT_ROOT


def test_suite_runs_end_to_end_at_tiny_scale(warehouse_db, dbt_manifest, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--rows", "4000", "--repeat", "1",
         "--compare-rows", "2000", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    figures = result["figures"]
    for key in ("ceiling", "backfill", "dbt_full", "refresh_ingest", "dbt_incremental",
                "noop_ingest", "noop_dbt", "defs_load", "materialize_small", "compare_pulse",
                "compare_untuned", "geocode"):
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
    assert set(result["ratios"]) == {"backfill_vs_ceiling", "backfill_vs_untuned",
                                     "refresh_vs_backfill", "dbt_incremental_vs_full",
                                     "dbt_incremental_vs_full_in_dbt",
                                     "enriched_model_incremental_vs_full"}
    assert "| Pulse / ceiling throughput |" in (tmp_path / "latest.md").read_text()
