"""One measured step per process: `python -m bench.steps NAME '{json args}'`.

A process per step gives each its own peak RSS. The last stdout line is JSON:
the step's wall time (imports excluded), its peak RSS (its own or its children's,
e.g. dbt's) and what it counted.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT


def ceiling(url: str, name: str = "crimes") -> dict[str, Any]:
    from bench.ceiling import copy_load

    return {"rows": copy_load(url, warehouse.url(), dataset=name)}


def pulse_ingest(url: str, state: str, name: str = "crimes", dataset: str = "raw_chicago") -> dict[str, Any]:
    """One load of dataset `name` (or several, comma-separated) into schema `dataset`, each
    through a pipeline of its own as `load_chicago` does; rows counts what dlt normalized."""
    import dlt

    from pipelines._common import run_source
    from pipelines.chicago import dataset_source, pipeline_name

    rows = 0
    for table in name.split(","):
        pipeline = dlt.pipeline(pipeline_name(table), destination="postgres", dataset_name=dataset,
                                pipelines_dir=state)
        run_source(pipeline, dataset_source(table, base_url=url))
        normalized = pipeline.last_trace.last_normalize_info
        rows += normalized.row_counts.get(table, 0) if normalized else 0  # an unchanged layer: none
    return {"rows": rows}


def geocode() -> dict[str, Any]:
    """`pipelines.geo.geocode` over the raw tables, as the geocoded_points asset runs it."""
    from pipelines.geo import geocode as locate

    stats = locate(warehouse.url(role="loader"))
    return {"rows": stats.points_geocoded, "points_read": stats.points_read}


def untuned_ingest(url: str, state: str) -> dict[str, Any]:
    from bench.untuned import untuned_load

    return {"rows": untuned_load(url, warehouse.url(), state)}


def dbt_build(full_refresh: bool = False, select: str | None = None) -> dict[str, Any]:
    """The build Dagster runs: `dbt build` without unit tests (they belong to `make test`)."""
    import subprocess

    from orchestration.defs.dbt import DBT_BUILD_ARGS
    from pulse.dbt import dbt_command, export_dbt_env

    export_dbt_env()  # as Pulse runs it: the transformer role
    args = dbt_command(*DBT_BUILD_ARGS)
    args += ["--full-refresh"] if full_refresh else []
    args += ["--select", select] if select else []
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    results = json.loads((PROJECT_ROOT / "target" / "run_results.json").read_text())
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
    from orchestration.definitions import defs

    return {"assets": len(defs.resolve_all_asset_specs())}


def materialize_small() -> dict[str, Any]:
    import dagster as dg

    from orchestration.defs.dbt import dbt_models
    from orchestration.defs.resources import resources

    key = dg.AssetKey(["seeds", "chicago_community_areas"])
    with dg.instance_for_test() as instance:
        result = dg.materialize([dbt_models], selection=[key], resources=resources(),
                                instance=instance)
    return {"success": result.success}


STEPS = {f.__name__: f for f in (ceiling, pulse_ingest, untuned_ingest, geocode, dbt_build, defs_load,
                                 materialize_small)}


# Imported before the clock starts: a step times its work, not library imports.
# defs_load is the exception: importing the code location is what it measures.
PRELOAD = {
    "ceiling": ["bench.ceiling"],
    "pulse_ingest": ["dlt", "pipelines._common", "pipelines.chicago"],
    "untuned_ingest": ["bench.untuned"],
    "geocode": ["pipelines.geo"],
    "dbt_build": ["orchestration.defs.dbt"],  # only for DBT_BUILD_ARGS, but it imports Dagster
    "materialize_small": ["dagster", "orchestration.defs.dbt", "orchestration.defs.resources"],
}


def main() -> int:
    import importlib

    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for module in PRELOAD.get(name, []):
        importlib.import_module(module)
    started = time.perf_counter()
    out = STEPS[name](**args)
    out["seconds"] = time.perf_counter() - started
    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    out["peak_rss_mb"] = round(rss_kb / 1024, 1)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
