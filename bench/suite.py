"""`make bench`: the benchmark suite. Every figure is a median of `--repeat` runs with
its spread, and every comparison is a ratio measured in the same run.

    .venv/bin/python -m bench.suite --rows 1000000 --repeat 3

Writes bench/results/latest.json and bench/results/latest.md (the README's table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api import sample_api
from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT

DATABASE = "pulse_bench"
POSTGRES = "embedded PostgreSQL 16"
REFRESH_SELECT = "source:chicago+"
SCHEMAS = ("raw_chicago", "staging", "enriched", "marts", "seeds", "bench_ceiling",
           "raw_untuned", "raw_compare")


def step(name: str, **args: Any) -> dict[str, Any]:
    """Runs one step in its own process; returns its JSON result."""
    run = subprocess.run([sys.executable, "-m", "bench.steps", name, json.dumps(args)],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"bench step {name} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"  {name:<18} {result['seconds']:8.2f} s  {result['peak_rss_mb']:7.1f} MB  "
          f"{ {k: v for k, v in result.items() if k not in ('seconds', 'peak_rss_mb')} }",
          flush=True)
    return result


def geocode_step(points: int) -> dict[str, Any]:
    """One end-to-end geocoder run in its own process (bench/geocode.py, its own scratch database)."""
    run = subprocess.run([sys.executable, "-m", "bench.geocode", "--points", str(points), "--repeat", "1",
                          "--json"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"bench geocode failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["rows"] = result["points"]
    print(f"  {'geocode':<18} {result['seconds']:8.2f} s  {result['peak_rss_mb']:7.1f} MB  "
          f"{ {'points': points, 'in_memory_seconds': round(result['in_memory_seconds'], 2)} }", flush=True)
    return result


def reset_schemas() -> None:
    with warehouse.connect() as conn, conn.cursor() as cur:
        for schema in SCHEMAS:
            cur.execute(f"drop schema if exists {schema} cascade")  # names are constants


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def run_suite(rows: int, repeat: int, compare_rows: int, geocode_points: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}

    def record(key: str, result: dict[str, Any]) -> dict[str, Any]:
        runs.setdefault(key, []).append(result)
        return result

    for r in range(repeat):
        print(f"repetition {r + 1}/{repeat}: backfill of {rows:,} rows", flush=True)
        reset_schemas()
        with tempfile.TemporaryDirectory() as state:
            with sample_api(rows, revisions=0) as url:
                record("ceiling", step("ceiling", url=url))
                record("backfill", step("pulse_ingest", url=url, state=state))
                record("dbt_full", step("dbt_build", full_refresh=True))
            with sample_api(rows, revisions=1) as url:
                record("refresh_ingest", step("pulse_ingest", url=url, state=state))
                # what the chicago_refresh job rebuilds: everything downstream of the raw table
                record("dbt_incremental", step("dbt_build", select=REFRESH_SELECT))
                record("noop_ingest", step("pulse_ingest", url=url, state=state))
                record("noop_dbt", step("dbt_build", select=REFRESH_SELECT))
        record("defs_load", step("defs_load"))
        record("materialize_small", step("materialize_small"))
        record("geocode", geocode_step(geocode_points))

    # dlt's defaults are quadratic at the cursor boundary: compared at a smaller size.
    print(f"untuned dlt against Pulse, {compare_rows:,} rows", flush=True)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        with sample_api(compare_rows, revisions=0) as url:
            record("compare_pulse", step("pulse_ingest", url=url, state=a, dataset="raw_compare"))
            record("compare_untuned", step("untuned_ingest", url=url, state=b))
    return runs


def report(rows: int, compare_rows: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def secs(key: str) -> dict[str, float]:
        return summary([r["seconds"] for r in runs[key]])

    def rss(key: str) -> float:
        return max(r["peak_rss_mb"] for r in runs[key])

    def med(key: str) -> float:
        return statistics.median(r["seconds"] for r in runs[key])

    def added(a: str, b: str) -> list[float]:
        return [x["seconds"] + y["seconds"] for x, y in zip(runs[a], runs[b], strict=True)]

    backfill_total = added("backfill", "dbt_full")
    refresh_total = added("refresh_ingest", "dbt_incremental")
    noop_total = added("noop_ingest", "noop_dbt")
    figures = {
        key: {"seconds": secs(key), "peak_rss_mb": rss(key),
              "rows": runs[key][-1].get("rows"), "rows_rebuilt": runs[key][-1].get("rows_rebuilt")}
        for key in runs
    }
    ratios = {
        # throughput ratios: rows/s of Pulse over rows/s of the other, per repetition
        "backfill_vs_ceiling": summary([c["seconds"] / b["seconds"]
                                        for b, c in zip(runs["backfill"], runs["ceiling"], strict=True)]),
        "backfill_vs_untuned": summary([u["seconds"] / p["seconds"] for p, u in
                                        zip(runs["compare_pulse"], runs["compare_untuned"], strict=True)]),
        "refresh_vs_backfill": summary([f / b for f, b in zip(refresh_total, backfill_total, strict=True)]),
        "dbt_incremental_vs_full": summary([i["seconds"] / f["seconds"] for i, f in
                                            zip(runs["dbt_incremental"], runs["dbt_full"], strict=True)]),
        # the incremental model alone: the work that should follow the change
        "enriched_model_incremental_vs_full": summary(
            [i["model_seconds"]["int_chicago__crimes_enriched"]
             / f["model_seconds"]["int_chicago__crimes_enriched"]
             for i, f in zip(runs["dbt_incremental"], runs["dbt_full"], strict=True)]),
        # the same without dbt's fixed start-up (about 3.5 s of imports and parsing)
        "dbt_incremental_vs_full_in_dbt": summary(
            [i["dbt_elapsed"] / f["dbt_elapsed"]
             for i, f in zip(runs["dbt_incremental"], runs["dbt_full"], strict=True)]),
    }
    targets = {
        "backfill >= 50% of the COPY ceiling": ratios["backfill_vs_ceiling"]["median"] >= 0.5,
        "backfill >= 5x untuned dlt": ratios["backfill_vs_untuned"]["median"] >= 5,
        "1% refresh <= 10% of the backfill": ratios["refresh_vs_backfill"]["median"] <= 0.10,
        "no-op refresh < 10 s": statistics.median(noop_total) < 10,
        "dbt incremental <= 20% of full": ratios["dbt_incremental_vs_full"]["median"] <= 0.20,
        "dbt incremental <= 20% of full, dbt's own time":
            ratios["dbt_incremental_vs_full_in_dbt"]["median"] <= 0.20,
        "enriched model incremental <= 20% of full":
            ratios["enriched_model_incremental_vs_full"]["median"] <= 0.20,
        "definitions load < 3 s": med("defs_load") < 3,
        "geocode 1M points < 60 s": med("geocode") < 60,
        "peak RSS < 1.5 GB": max(f["peak_rss_mb"] for f in figures.values()) < 1536,
    }
    return {
        "rows": rows, "compare_rows": compare_rows,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "postgres": POSTGRES},
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "figures": figures, "totals": {"backfill": summary(backfill_total),
                                       "refresh": summary(refresh_total), "noop": summary(noop_total)},
        "ratios": ratios, "targets": targets,
    }


def markdown(result: dict[str, Any]) -> str:
    f, t, r = result["figures"], result["totals"], result["ratios"]
    rows = result["rows"]

    def span(s: dict[str, float]) -> str:
        return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"

    def rate(key: str, n: int) -> str:
        return f"{n / f[key]['seconds']['median']:,.0f}"

    lines = [
        f"Benchmark: {rows:,} synthetic crimes, median of {f['backfill']['seconds']['n']} runs "
        f"(min–max), {result['machine']['cores']} cores, {result['machine']['postgres']}, "
        f"{result['when']}.",
        "",
        "| step | wall time | rows | rows/s | peak RSS |",
        "|---|---:|---:|---:|---:|",
        f"| COPY ceiling: fetch + one psycopg COPY | {span(f['ceiling']['seconds'])} | {rows:,} | "
        f"{rate('ceiling', rows)} | {f['ceiling']['peak_rss_mb']:.0f} MB |",
        f"| Pulse backfill, API to raw | {span(f['backfill']['seconds'])} | {rows:,} | "
        f"{rate('backfill', rows)} | {f['backfill']['peak_rss_mb']:.0f} MB |",
        f"| dbt full build | {span(f['dbt_full']['seconds'])} | | | {f['dbt_full']['peak_rss_mb']:.0f} MB |",
        f"| 1% refresh: ingest | {span(f['refresh_ingest']['seconds'])} | "
        f"{f['refresh_ingest']['rows']:,} | | {f['refresh_ingest']['peak_rss_mb']:.0f} MB |",
        f"| 1% refresh: dbt incremental build | {span(f['dbt_incremental']['seconds'])} | "
        f"{(f['dbt_incremental']['rows_rebuilt'] or {}).get('int_chicago__crimes_enriched', '')} "
        f"(enriched) | | {f['dbt_incremental']['peak_rss_mb']:.0f} MB |",
        f"| no-op refresh: ingest | {span(f['noop_ingest']['seconds'])} | "
        f"{f['noop_ingest']['rows']:,} | | {f['noop_ingest']['peak_rss_mb']:.0f} MB |",
        f"| no-op refresh: dbt build | {span(f['noop_dbt']['seconds'])} | | | "
        f"{f['noop_dbt']['peak_rss_mb']:.0f} MB |",
        f"| Dagster definitions load | {span(f['defs_load']['seconds'])} | | | "
        f"{f['defs_load']['peak_rss_mb']:.0f} MB |",
        f"| Dagster: materialize one seed | {span(f['materialize_small']['seconds'])} | | | "
        f"{f['materialize_small']['peak_rss_mb']:.0f} MB |",
        f"| geocode: distinct points to ZIP and area | {span(f['geocode']['seconds'])} | "
        f"{f['geocode']['rows']:,} | {rate('geocode', f['geocode']['rows'])} | "
        f"{f['geocode']['peak_rss_mb']:.0f} MB |",
        f"| Pulse at {result['compare_rows']:,} rows | {span(f['compare_pulse']['seconds'])} | "
        f"{result['compare_rows']:,} | {rate('compare_pulse', result['compare_rows'])} | "
        f"{f['compare_pulse']['peak_rss_mb']:.0f} MB |",
        f"| untuned dlt at {result['compare_rows']:,} rows | {span(f['compare_untuned']['seconds'])} | "
        f"{result['compare_rows']:,} | {rate('compare_untuned', result['compare_rows'])} | "
        f"{f['compare_untuned']['peak_rss_mb']:.0f} MB |",
        "",
        "| ratio (same run) | median (min–max) | target | met |",
        "|---|---:|---|---|",
    ]
    checks = result["targets"]
    for label, key, target, name in [
        ("Pulse / ceiling throughput", "backfill_vs_ceiling", ">= 0.50",
         "backfill >= 50% of the COPY ceiling"),
        ("Pulse / untuned dlt throughput", "backfill_vs_untuned", ">= 5",
         "backfill >= 5x untuned dlt"),
        ("1% refresh / backfill (ingest + dbt)", "refresh_vs_backfill", "<= 0.10",
         "1% refresh <= 10% of the backfill"),
        ("dbt incremental / full build", "dbt_incremental_vs_full", "<= 0.20",
         "dbt incremental <= 20% of full"),
        ("the same, dbt's own elapsed time (no start-up)", "dbt_incremental_vs_full_in_dbt",
         "<= 0.20", "dbt incremental <= 20% of full, dbt's own time"),
        ("the incremental model alone (enriched)", "enriched_model_incremental_vs_full",
         "<= 0.20", "enriched model incremental <= 20% of full"),
    ]:
        s = r[key]
        lines.append(f"| {label} | {s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) | {target} | "
                     f"{'yes' if checks[name] else 'no'} |")
    lines += [
        f"| no-op refresh, ingest + dbt | {span(t['noop'])} | < 10 s | "
        f"{'yes' if checks['no-op refresh < 10 s'] else 'no'} |",
        f"| definitions load | {span(f['defs_load']['seconds'])} | < 3 s | "
        f"{'yes' if checks['definitions load < 3 s'] else 'no'} |",
        f"| geocode {f['geocode']['rows']:,} points, end to end | {span(f['geocode']['seconds'])} | "
        f"< 60 s (1M points) | {'yes' if checks['geocode 1M points < 60 s'] else 'no'} |",
        f"| peak RSS, any step | {max(x['peak_rss_mb'] for x in f.values()):.0f} MB | < 1,536 MB | "
        f"{'yes' if checks['peak RSS < 1.5 GB'] else 'no'} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-rows", type=int, default=100_000,
                        help="size of the untuned-dlt comparison (it is quadratic)")
    parser.add_argument("--geocode-points", type=int, default=None,
                        help="distinct points the geocoder locates (default: --rows)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    global POSTGRES
    POSTGRES = "embedded PostgreSQL 16" if warehouse.is_embedded() else "WAREHOUSE_URL's server"
    warehouse.drop_database(DATABASE)
    conn = warehouse.create_database(DATABASE)
    os.environ["WAREHOUSE_URL"] = conn.url()  # every step and dbt load into this database
    os.environ.update(conn.libpq_env())
    from orchestration.defs.project import prepare_dbt

    prepare_dbt()  # the manifest names this database; the Dagster steps read it
    try:
        runs = run_suite(args.rows, args.repeat, min(args.compare_rows, args.rows),
                         args.geocode_points or args.rows)
    finally:
        warehouse.drop_database(DATABASE)
    result = report(args.rows, min(args.compare_rows, args.rows), runs)
    result["runs"] = runs
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    table = markdown(result)
    (args.out / "latest.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
