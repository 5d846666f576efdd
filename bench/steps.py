"""One measured step per process: `python -m bench.steps NAME '{json args}'`.

A process per step gives each its own peak RSS. The last stdout line is JSON:
the step's wall time (imports excluded; or the part the step timed itself), its peak
RSS (its own or its children's, e.g. dbt's) and what it counted.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from pulse import roles, warehouse
from pulse.warehouse import PROJECT_ROOT


def render_pages(url: str, out: str, name: str = "crimes", page_size: int = 50_000) -> dict[str, Any]:
    """The sample API's own speed: every page of dataset `name` fetched (its bytes kept in
    `out` for the page server); seconds are the requests' alone."""
    from bench.pages import render_pages as render
    from pipelines.chicago.settings import load_datasets

    return render(url, load_datasets()[name].id, Path(out), page_size)


def network_ceiling(url: str, name: str = "crimes", page_size: int = 50_000) -> dict[str, Any]:
    """Pre-rendered pages over HTTP, one COPY (bench/ceiling.py)."""
    from bench.ceiling import copy_pages

    return {"rows": copy_pages(url, warehouse.url(), dataset=name, page_size=page_size)}


def physical_ceiling(file: str, name: str = "crimes") -> dict[str, Any]:
    """The network ceiling's rows written to `file`, then timed: one COPY from it."""
    from bench.ceiling import copy_file, export_table

    size = export_table(warehouse.url(), name, Path(file))
    return {**copy_file(warehouse.url(), name, Path(file)), "file_mb": round(size / 2**20, 1)}


def pulse_ingest(url: str, state: str, name: str = "crimes", dataset: str = "raw_chicago",
                 page_size: int | None = None) -> dict[str, Any]:
    """One load of dataset `name` (or several, comma-separated) into schema `dataset`, each
    through a pipeline of its own as `load_chicago` does, at the source's page size or
    `page_size`; rows counts what dlt normalized."""
    import dlt

    from pipelines.chicago import dataset_source, pipeline_name
    from pipelines.load import run_source

    rows = 0
    stages: dict[str, float] = {}
    for table in name.split(","):
        pipeline = dlt.pipeline(pipeline_name(table), destination="postgres", dataset_name=dataset,
                                pipelines_dir=state)
        paging = {"page_size": page_size} if page_size else {}
        run_source(pipeline, dataset_source(table, base_url=url, **paging))
        normalized = pipeline.last_trace.last_normalize_info
        rows += normalized.row_counts.get(table, 0) if normalized else 0  # an unchanged layer: none
        for traced in pipeline.last_trace.steps:  # dlt's own clock: extract, normalize, load
            if traced.step != "run" and traced.finished_at:
                seconds = (traced.finished_at - traced.started_at).total_seconds()
                stages[traced.step] = round(stages.get(traced.step, 0.0) + seconds, 3)
    return {"rows": rows, "stages": stages}


def geocode() -> dict[str, Any]:
    """`pipelines.geo.geocode` over the raw tables, as the geocoded_points asset runs it."""
    from pipelines.geo import geocode as locate

    stats = locate(roles.url("loader"))
    return {"rows": stats.points_geocoded, "points_read": stats.points_read}


def untuned_ingest(url: str, state: str) -> dict[str, Any]:
    from bench.untuned import untuned_load

    return {"rows": untuned_load(url, warehouse.url(), state)}


def dbt_build(full_refresh: bool = False, select: str | None = None) -> dict[str, Any]:
    """The build Dagster runs: `dbt build` without unit tests (they belong to `make test`)."""
    import subprocess

    from orchestration.defs.dbt import DBT_BUILD_ARGS
    from pulse.dbt import dbt_command, export_dbt_env, target_dir

    export_dbt_env()  # as Pulse runs it: the transformer role
    args = dbt_command(*DBT_BUILD_ARGS)
    args += ["--full-refresh"] if full_refresh else []
    args += ["--select", select] if select else []
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    results = json.loads((target_dir() / "run_results.json").read_text())
    rebuilt = {
        r["unique_id"].split(".")[-1]: r.get("adapter_response", {}).get("rows_affected")
        for r in results["results"] if r["unique_id"].startswith("model.")
    }
    model_seconds = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in results["results"] if r["unique_id"].startswith("model.")
    }
    # dbt's own clock: the build without the CLI's start-up (imports, parsing)
    return {"rows_rebuilt": rebuilt, "dbt_elapsed": results["elapsed_time"],
            "model_seconds": model_seconds}


def defs_load() -> dict[str, Any]:
    """The code location loaded as Dagster loads it: imports included. Also each part's
    seconds: the libraries' imports, then Pulse's modules, then building the definitions."""
    import importlib

    parts: dict[str, float] = {}
    for module in ("dagster", "dlt", "dagster_dbt", "dagster_dlt", "orchestration.definitions"):
        started = time.perf_counter()
        importlib.import_module(module)
        parts[f"import {module}"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    from orchestration.definitions import defs

    assets = len(defs().resolve_all_asset_specs())
    parts["build the definitions"] = round(time.perf_counter() - started, 3)
    return {"assets": assets, "parts": parts}


def materialize_small() -> dict[str, Any]:
    import dagster as dg

    from orchestration.defs.dbt import dbt_models
    from orchestration.lib.resources import resources

    key = dg.AssetKey(["seeds", "chicago_community_areas"])
    with dg.instance_for_test() as instance:
        result = dg.materialize([dbt_models()], selection=[key], resources=resources(),
                                instance=instance)
    return {"success": result.success}


def _normalized_rows(pipeline: Any) -> dict[str, int]:
    """{table: rows} dlt normalized in the pipeline's last run (none when nothing was extracted)."""
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    return {t: n for t, n in (normalized.row_counts if normalized else {}).items()
            if not t.startswith("_dlt")}


def worldbank_ingest(url: str, state: str) -> dict[str, Any]:
    """`load_worldbank` against the local API, its dlt state in `state`; rows = values loaded."""
    from pipelines.worldbank import load_worldbank, worldbank_pipeline

    load_worldbank(pipelines_dir=state, base_url=url)
    tables = _normalized_rows(worldbank_pipeline(state))
    return {"rows": tables.get("indicator_values", 0), "tables": tables}


def oecd_ingest(url: str, state: str) -> dict[str, Any]:
    """`load_oecd` (every declared dataflow, a pipeline each) against the local API.

    The client's minimum spacing between requests is 0 here (dataflows.yml says 3 s), so the
    figure is the work, not the politeness; its hourly budget stays the default, and
    `ledger_attempts` is what this load took from it (the ledger lives in `state`)."""
    from pipelines.oecd import dataflow_pipeline, load_oecd
    from pipelines.oecd.budget import RequestLedger, ledger_path
    from pipelines.oecd.settings import load_settings

    settings = load_settings()
    ledger = RequestLedger(ledger_path(state), settings.requests_per_hour)
    before = len(ledger.used())
    infos = load_oecd(pipelines_dir=state, base_url=url, min_seconds_between_requests=0,
                      ledger_path=str(ledger.path))
    tables = {name: _normalized_rows(dataflow_pipeline(name, state)).get(name, 0) for name in infos}
    return {"rows": sum(tables.values()), "tables": tables,
            "ledger_attempts": len(ledger.used()) - before,
            "budget_per_hour": settings.requests_per_hour}


def reports(out: str) -> dict[str, Any]:
    """Every Chicago report mart exported as CSV, Parquet and JSON, as the report assets do."""
    from pulse import reports as files
    from pulse.dbt import manifest_path

    conn = roles.connection("analyst")
    models = [m for m in files.report_models(manifest_path()) if m.name.startswith("rpt_chicago")]
    rows = sum(files.export_report(m.schema, m.table, Path(out), conn=conn, name=m.name,
                                   description=m.description,
                                   column_descriptions=m.column_descriptions).row_count
               for m in models)
    files.write_index(Path(out))
    return {"rows": rows, "reports": len(models)}


def chicago_refresh_job(url: str, reports: str, home: str, fresh: bool = False) -> dict[str, Any]:
    """One run of the `chicago_refresh` job (every dataset's load, the geocoder, dbt, the
    reports; execute_in_process on the instance kept in `home`, which remembers the runs
    before); seconds are the run alone.

    `fresh` empties the job's dlt folder first: the state of an earlier repetition's
    warehouse. The first run then takes its cursors from the warehouse (the state of record).
    Returns each step's seconds, what was built beyond the raw tables, and each dbt model's
    execution time as dagster-dbt reported it."""
    import os
    import shutil

    import dagster as dg

    from orchestration.definitions import defs
    from pipelines.load import default_pipelines_dir

    os.environ.update({"SOURCES__CHICAGO__BASE_URL": url, "PULSE_REPORTS_DIR": reports})
    if fresh:
        shutil.rmtree(default_pipelines_dir(), ignore_errors=True)
    job = defs().resolve_job_def("chicago_refresh")
    steps: dict[str, float] = {}
    Path(home).mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=home) as instance:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        seconds = time.perf_counter() - started
        begun: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):  # each step's start and end
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.is_step_start:
                begun[event.step_key] = entry.timestamp
            elif event.is_step_success or event.is_step_skipped:
                steps[event.step_key] = round(entry.timestamp - begun.get(event.step_key, entry.timestamp), 3)
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_failure]
        raise RuntimeError(f"chicago_refresh failed: {failures}")
    materialized = [m for m in result.get_asset_materialization_events()]
    model_seconds = {
        m.asset_key.path[-1]: m.materialization.metadata["Execution Duration"].value
        for m in materialized if "Execution Duration" in m.materialization.metadata
    }
    built = sorted({m.asset_key.to_user_string() for m in materialized
                    if not m.asset_key.path[0].startswith("raw_")})
    return {"seconds": seconds, "steps": steps, "built_downstream": built,
            "model_seconds": model_seconds}


def demo_runs(runs: int, rows: int | None = None) -> dict[str, Any]:
    """`make demo` as a user runs it, `runs` times in a row, in a folder of its own: its
    own embedded server, dlt state, dbt target and reports (the project's .warehouse is not
    touched). The first run is the backfill; the others each absorb one more revision batch.
    Seconds: the median wall time of the runs after the first, make included."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pulse-bench-demo-") as folder:
        env = {k: v for k, v in os.environ.items()
               if k != "WAREHOUSE_URL" and not k.startswith("PG") and not k.startswith("SOURCES__")}
        env |= {"PULSE_WAREHOUSE_DIR": f"{folder}/warehouse", "DBT_TARGET_PATH": f"{folder}/target",
                "PULSE_REPORTS_DIR": f"{folder}/reports", "DAGSTER_HOME": f"{folder}/dagster"}
        if rows:
            env["PULSE_DEMO_ROWS"] = str(rows)
        seconds = []
        try:
            for _ in range(runs):
                started = time.perf_counter()
                run = subprocess.run(["make", "demo"], cwd=PROJECT_ROOT, env=env,
                                     capture_output=True, text=True)
                if run.returncode:
                    raise RuntimeError(f"make demo failed:\n{(run.stdout + run.stderr)[-3000:]}")
                seconds.append(round(time.perf_counter() - started, 2))
        finally:
            subprocess.run([sys.executable, "-m", "pulse.cli", "db", "stop"], cwd=PROJECT_ROOT,
                           env=env, check=False, capture_output=True)
    again = seconds[1:] or seconds
    return {"seconds": sorted(again)[len(again) // 2], "first": seconds[0], "runs": seconds}


def countries_refresh_job(worldbank_url: str, oecd_url: str, reports: str, home: str,
                          fresh: bool = False) -> dict[str, Any]:
    """One run of the `countries_refresh` job (execute_in_process on the instance kept in
    `home`); seconds are the run alone.

    The job keeps its dlt state in this scratch database's default pipelines dir. With
    `fresh` that dir is emptied first (a state left by an earlier run would make the first
    run incremental); without it, the run finds the state the previous run left."""
    import os
    import shutil

    import dagster as dg

    from orchestration.definitions import defs
    from pipelines.load import default_pipelines_dir
    from pipelines.oecd.budget import ledger_path

    os.environ.update({"SOURCES__WORLDBANK__BASE_URL": worldbank_url, "SOURCES__OECD__BASE_URL": oecd_url,
                       "SOURCES__OECD__MIN_SECONDS_BETWEEN_REQUESTS": "0", "PULSE_REPORTS_DIR": reports,
                       # the local API's requests stay out of the machine's OECD budget
                       "SOURCES__OECD__LEDGER_PATH": str(ledger_path(default_pipelines_dir()))})
    if fresh:
        shutil.rmtree(default_pipelines_dir(), ignore_errors=True)
    job = defs().resolve_job_def("countries_refresh")
    Path(home).mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=home) as instance:
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        seconds = time.perf_counter() - started
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_failure]
        raise RuntimeError(f"countries_refresh failed: {failures}")
    materialized = sorted(m.asset_key.to_user_string() for m in result.get_asset_materialization_events())
    # the loads report their raw tables on every run; anything else was built
    built = [k for k in materialized if not k.startswith("raw_")]
    return {"seconds": seconds, "materialized": materialized, "built_downstream": built}


STEPS = {f.__name__: f for f in (render_pages, network_ceiling, physical_ceiling, pulse_ingest,
                                 untuned_ingest, geocode, dbt_build, defs_load, materialize_small,
                                 worldbank_ingest, oecd_ingest, countries_refresh_job, reports,
                                 chicago_refresh_job, demo_runs)}


# Imported before the clock starts: a step times its work, not library imports.
# defs_load is the exception: importing the code location is what it measures.
PRELOAD = {
    "render_pages": ["bench.pages", "pipelines.chicago.settings"],
    "network_ceiling": ["bench.ceiling"],
    "physical_ceiling": ["bench.ceiling"],
    "pulse_ingest": ["dlt", "pipelines.load", "pipelines.chicago"],
    "untuned_ingest": ["bench.untuned"],
    "geocode": ["pipelines.geo"],
    "dbt_build": ["orchestration.defs.dbt"],  # only for DBT_BUILD_ARGS, but it imports Dagster
    "materialize_small": ["dagster", "orchestration.defs.dbt", "orchestration.lib.resources"],
    "worldbank_ingest": ["dlt", "pipelines.load", "pipelines.worldbank"],
    "oecd_ingest": ["dlt", "pipelines.load", "pipelines.oecd"],
    "countries_refresh_job": ["dagster", "orchestration.definitions"],
    "chicago_refresh_job": ["dagster", "orchestration.definitions"],
    "reports": ["pulse.reports"],
}


def own_peak_rss_kb() -> int:
    """This process's peak RSS: VmHWM. Linux carries ru_maxrss over from the parent across
    fork and exec, so a step started by a 500 MB suite would report at least 500 MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    import importlib

    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for module in PRELOAD.get(name, []):
        importlib.import_module(module)
    started = time.perf_counter()
    out = STEPS[name](**args)
    out.setdefault("seconds", time.perf_counter() - started)  # a step may time a part of itself
    rss_kb = max(own_peak_rss_kb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    out["peak_rss_mb"] = round(rss_kb / 1024, 1)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
