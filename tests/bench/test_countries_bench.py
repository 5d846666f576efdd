"""The country section of `make bench` cannot rot: it runs alone at a tiny scale.

No timing is asserted (timings live in `make bench`); the test checks that every step ran,
every figure, ratio and target was written, and the no-change refreshes asked only what
they must: the country list and a probe per indicator (13), a query per dataflow (3).
"""

import json
import subprocess
import sys

from pulse.warehouse import PROJECT_ROOT

FIGURES = ("wb_backfill", "oecd_backfill", "dbt_full", "wb_noop", "oecd_noop", "wb_refresh",
           "oecd_refresh", "job_first", "job_noop")


def test_country_section_runs_alone_at_tiny_scale(warehouse_db, dbt_manifest, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench.suite", "--only", "countries", "--repeat", "1",
         "--countries", "6", "--first-year", "2015", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert result["sections_run"]["sections"] == ["countries"]
    assert "figures" not in result  # no Chicago results to carry over: none invented
    countries = result["countries"]
    figures = countries["figures"]
    for key in FIGURES:
        assert figures[key]["seconds"]["median"] > 0, key
        assert figures[key]["peak_rss_mb"] > 0, key
    universe = countries["universe"]
    assert universe["indicators"] == 12 and universe["dataflows"] == 3
    # the backfills load every value and observation the API serves
    assert figures["wb_backfill"]["rows"] == universe["worldbank_values"]
    assert figures["oecd_backfill"]["rows"] == universe["oecd_observations"]
    # nothing revised: the country list + 12 probes, 3 dataflow queries, no rows
    assert figures["wb_noop"]["requests"] == 13
    assert figures["oecd_noop"]["requests"] == 3
    assert figures["wb_noop"]["rows"] == figures["oecd_noop"]["rows"] == 0
    # the 1% revision: only the revised indicators and observations come back
    assert 0 < figures["wb_refresh"]["rows"] < figures["wb_backfill"]["rows"]
    assert 0 < figures["oecd_refresh"]["rows"] < figures["oecd_backfill"]["rows"]
    assert countries["oecd_budget"]["spent"] == {"oecd_backfill": 3, "oecd_noop": 3, "oecd_refresh": 3}
    # the Dagster job with nothing new upstream: loads only, dbt and the reports skipped
    assert figures["job_noop"]["built_downstream"] == []
    assert set(countries["ratios"]) == {
        "worldbank_refresh_vs_backfill", "oecd_refresh_vs_backfill",
        "worldbank_refresh_rows_vs_backfill", "oecd_refresh_rows_vs_backfill"}
    assert all(isinstance(met, bool) for met in countries["targets"].values())
    assert countries["targets"]["World Bank no-change refresh: 13 requests"]
    assert countries["targets"]["OECD no-change refresh: 3 requests"]
    table = (tmp_path / "latest.md").read_text()
    assert "Chicago: not run" in table
    assert "| World Bank no-change refresh: requests | 13 |" in table
    assert "| OECD no-change refresh: requests | 3 |" in table
