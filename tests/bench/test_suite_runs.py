"""The benchmark harness cannot rot: CI runs the Chicago section at a tiny scale.

No timing is asserted (timings live in `make bench`); the test checks that every step
ran, every figure and ratio was written, every dataset of the portal was loaded, the
ceilings loaded the rows Pulse loaded, and each refresh loaded only the change.
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
        # 1,000 rows a page: the crimes are read in 4 full pages and an empty one, so the page
        # server answers keyset positions and the end of the data as the real portal would
        [sys.executable, "-m", "bench.suite", "--only", "chicago", "--rows", "4000", "--repeat", "1",
         "--compare-rows", "2000", "--page-size", "1000", "--demo-rows", "2000",
         "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    figures = result["figures"]
    ceilings = ("sample_api", "network_ceiling", "physical_ceiling")
    per_dataset = [f"{step}_{name}" for name in OTHER_ROWS for step in (*ceilings, "backfill", "refresh")]
    for key in (*ceilings, "backfill", "boundaries", "geocode_backfill", "dbt_full", "refresh_ingest",
                "boundaries_refresh", "geocode_refresh", "dbt_incremental", "noop_ingest",
                "noop_geocode", "noop_dbt", "defs_load", "materialize_small", "compare_pulse",
                "compare_untuned", "geocode", "demo", "reports_backfill", "reports_refresh",
                "job_refresh", "job_noop", *per_dataset):
        assert figures[key]["seconds"]["median"] > 0, key
        assert figures[key]["peak_rss_mb"] > 0, key
    # the API rendered, and each ceiling loaded, the rows Pulse's backfill loaded
    for step in ceilings:
        assert figures[step]["rows"] == figures["backfill"]["rows"] == 4000, step
    assert result["runs"]["sample_api"][0]["pages"] == 5  # 4 full pages, then an empty one
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
        for step in ceilings:
            assert figures[f"{step}_{name}"]["rows"] == figures[f"backfill_{name}"]["rows"] == 800, name
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

    # make demo ran twice in a folder of its own: the backfill, then the one measured
    assert len(figures["demo"]["runs"]) == 2
    # the chicago_refresh job after a second revision: one dbt step, then the marts and the
    # reports; run again with nothing new upstream, it builds nothing beyond the raw tables
    job = result["runs"]["job_refresh"][0]
    assert [k for k in job["steps"] if k.startswith("dbt_models")] == ["dbt_models"], job["steps"]
    assert "marts/rpt_chicago__monthly_by_community_area" in job["built_downstream"]
    assert "reports/rpt_chicago__monthly_by_community_area" in job["built_downstream"]
    assert job["model_seconds"]["int_chicago__crimes_enriched"] >= 0
    assert result["runs"]["job_noop"][0]["built_downstream"] == []

    against = ("backfill_vs_network_ceiling", "backfill_vs_physical_ceiling")
    assert set(result["ratios"]) == {
        "backfill_vs_untuned", "refresh_vs_backfill", "job_refresh_vs_backfill",
        "dbt_incremental_vs_full", "dbt_incremental_vs_full_in_dbt", "crimes_refresh_vs_backfill",
        *(f"{name}_{r}" for name in ["crimes", *OTHER_ROWS] for r in against),
        *(f"{name}_refresh_vs_backfill" for name in OTHER_ROWS),
        *(f"{name}_enriched_incremental_vs_full" for name in ["crimes", *OTHER_ROWS]),
    }
    # a model's incremental build may round to 0.000 of its full build, nothing else may
    assert all(r["median"] > 0 for k, r in result["ratios"].items() if "enriched" not in k)
    assert all(r["median"] >= 0 for r in result["ratios"].values())
    # each backfill has its two ceilings and its memory as targets, met or not
    for name in ["crimes", *OTHER_ROWS]:
        for target in (f"{name} backfill >= 50% of its network ceiling",
                       f"{name} backfill >= 20% of its physical ceiling", f"{name} backfill peak RSS < 1 GB"):
            assert isinstance(result["targets"][target], bool), target
    assert all(isinstance(met, bool) for met in result["targets"].values())
    table = (tmp_path / "latest.md").read_text()
    assert "| sample API alone: render and send every page, only received |" in table
    assert "| physical ceiling: one psycopg COPY from a local file |" in table
    for name in ["crimes", *OTHER_ROWS]:
        rows = 4000 if name == "crimes" else 800
        assert f"| {name} | {rows:,} |" in table, name
    # every target of issue #14 is a row with its figure, its target and whether it is met
    chicago = table.split("## Countries")[0]
    targets = chicago.split("| target (issue #14) |")[1].split("\n\n")[0].splitlines()[2:]
    for label in ("second `make demo`", "no-op refresh: the chicago_refresh job",
                  "1% revision: the chicago_refresh job", "dbt incremental build / full build",
                  "int_chicago__food_inspections_enriched: incremental / full",
                  "crimes backfill / network ceiling", "crimes backfill / physical ceiling",
                  "crimes backfill peak RSS", "Dagster definitions load"):
        assert any(line.startswith(f"| {label}") for line in targets), label
    for line in targets:
        assert line.rstrip(" |").rsplit("|", 1)[-1].strip() in ("yes", "**no**"), line
