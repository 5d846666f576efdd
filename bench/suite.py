"""`make bench`: the benchmark suite. Every figure is a median of `--repeat` runs with
its spread, and every comparison is a ratio measured in the same run.

    .venv/bin/python -m bench.suite --rows 1000000 --repeat 3

The local API serves the whole Chicago portal: `--rows` crimes, `--dataset-rows`
(default `--rows` / 5) rows of each other rows dataset, and both boundary layers.
Each repetition has the API render every rows dataset's pages once (its own speed), then
measures each dataset's ceilings (bench/ceiling.py) and Pulse's backfill from those
pages, served as bytes (bench/pages.py); it geocodes, builds dbt, then refreshes every
dataset from the API after one 1% revision.

The country section (bench/countries.py) loads the World Bank and OECD sources from the
local country API: backfills, no-change and 1% refreshes, the country models' dbt build and
Dagster's countries_refresh job. The events section (bench/events.py) measures the
collector, the drain and the path to the event marts. The logs section (bench/logs.py)
loads `--log-lines` generated access-log lines from the local Loki into raw_logs, then a 1%
refresh. `--only chicago|countries|events|logs` runs one section and keeps the others'
previous results, labelled with the date of the run they came from.

Writes bench/results/latest.json and bench/results/latest.md (the README's table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import countries, events, logs
from bench.api import sample_api
from bench.pages import page_server
from pipelines.chicago.settings import MAX_PAGE_SIZE, load_datasets
from pulse import roles, warehouse
from pulse.warehouse import PROJECT_ROOT

DATABASE = "pulse_bench"
PAGE_SIZE = MAX_PAGE_SIZE  # Pulse's own page size
SECTIONS = ("chicago", "countries", "events", "logs")
POSTGRES = "embedded PostgreSQL 16"
REFRESH_SELECT = "source:chicago+"
DATASETS = load_datasets()
# The rows datasets besides crimes, measured at --dataset-rows; crimes keeps its own rows.
OTHER_ROWS = [name for name, d in DATASETS.items() if not d.is_boundary and name != "crimes"]
ROWS = ["crimes", *OTHER_ROWS]
BOUNDARIES = ",".join(name for name, d in DATASETS.items() if d.is_boundary)
SCHEMAS = ("raw_chicago", "staging", "enriched", "marts", "seeds", "bench_ceiling",
           "raw_untuned", "raw_compare")


# Pulse's backfill against each ceiling (bench/ceiling.py): the share of its rows/s to reach
CEILINGS = {"network_ceiling": 0.5, "physical_ceiling": 0.2}
BACKFILL_RSS_MB = 1024  # a backfill's peak RSS: memory follows the page, not the table
NO_TARGET = "no target"


def ceiling_target(name: str, ceiling: str) -> str:
    """The target's name: "crimes backfill >= 50% of its network ceiling"."""
    return f"{name} backfill >= {CEILINGS[ceiling]:.0%} of its {ceiling.replace('_', ' ')}"


def rss_target(name: str) -> str:
    return f"{name} backfill peak RSS < 1 GB"


# Issue #14's targets, by the names the results keep them under
SECOND_DEMO = "second make demo <= 45 s"
JOB_NOOP = "no-op chicago_refresh job < 5 s"
JOB_REFRESH = "1% revision, chicago_refresh job <= 5% of the backfill"
DBT_WHOLE = "dbt incremental build <= 10% of the full build"
DEFS_LOAD = "definitions load < 2 s"


def enriched_model(name: str) -> str:
    return f"int_chicago__{name}_enriched"


def model_target(name: str) -> str:
    return f"{enriched_model(name)} incremental <= 10% of full"


def key(kind: str, name: str) -> str:
    """A figure's key: `backfill` for crimes, `backfill_<name>` for another rows dataset."""
    return kind if name == "crimes" else f"{kind}_{name}"


def step(name: str, /, **args: Any) -> dict[str, Any]:
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


def summary(values: list[float], digits: int = 2) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def ratio_summary(values: list[float]) -> dict[str, float]:
    """A ratio's median and spread to 3 decimals, or to 3 significant digits below 0.1: a
    small-scale run's 0.00031 of a ceiling must not read as 0.0."""
    def rounded(x: float) -> float:
        return round(x, 3) if x == 0 or abs(x) >= 0.1 else float(f"{x:.3g}")

    return {"median": rounded(statistics.median(values)), "min": rounded(min(values)),
            "max": rounded(max(values)), "n": len(values)}


def run_suite(rows: int, repeat: int, compare_rows: int, geocode_points: int,
              dataset_rows: int, page_size: int = PAGE_SIZE, demo_rows: int | None = None,
              ) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}

    def record(key: str, result: dict[str, Any]) -> dict[str, Any]:
        runs.setdefault(key, []).append(result)
        return result

    portal = {"rows": rows, "dataset_rows": dataset_rows}
    # `make demo` as a user runs it, in a folder of its own: once, then `repeat` times again
    print(f"make demo, {repeat + 1} times in a row", flush=True)
    record("demo", step("demo_runs", runs=repeat + 1, rows=demo_rows))
    for r in range(repeat):
        print(f"repetition {r + 1}/{repeat}: backfill of {rows:,} crimes and {dataset_rows:,} rows "
              f"of each of {', '.join(OTHER_ROWS)}", flush=True)
        reset_schemas()
        with tempfile.TemporaryDirectory(prefix="pulse-bench-") as state, \
                tempfile.TemporaryDirectory(prefix="pulse-bench-pages-") as pages:
            # The sample API renders every page once: its own speed, and the bytes that the
            # ceilings and Pulse's backfill then read alike from a page server (bench/pages.py),
            # so neither waits on the Python rendering.
            with sample_api(**portal, revisions=0) as url:
                for name in ROWS:
                    record(key("sample_api", name),
                           step("render_pages", url=url, name=name, out=str(Path(pages, name)),
                                page_size=page_size))
                record("boundaries", step("pulse_ingest", url=url, state=state, name=BOUNDARIES))
            for name in ROWS:
                folder = Path(pages, name)
                with page_server(folder) as url:
                    record(key("network_ceiling", name),
                           step("network_ceiling", url=url, name=name, page_size=page_size))
                    record(key("backfill", name),
                           step("pulse_ingest", url=url, state=state, name=name, page_size=page_size))
                record(key("physical_ceiling", name),
                       step("physical_ceiling", name=name, file=str(folder / "copy.txt")))
                shutil.rmtree(folder)  # a million crimes are about 1 GB of pages and rows
            # dbt's enriched models join every point to its ZIP and area: geocode first
            record("geocode_backfill", step("geocode"))
            record("dbt_full", step("dbt_build", full_refresh=True))
            record("reports_backfill", step("reports", out=str(Path(pages, "reports"))))
            with sample_api(**portal, revisions=1) as url:
                record("refresh_ingest", step("pulse_ingest", url=url, state=state, page_size=page_size))
                for name in OTHER_ROWS:
                    record(f"refresh_{name}",
                           step("pulse_ingest", url=url, state=state, name=name, page_size=page_size))
                # the layers' rowsUpdatedAt did not move: both loads fetch the metadata only
                record("boundaries_refresh", step("pulse_ingest", url=url, state=state, name=BOUNDARIES))
                record("geocode_refresh", step("geocode"))
                # what the chicago_refresh job rebuilds: everything downstream of the raw tables
                record("dbt_incremental", step("dbt_build", select=REFRESH_SELECT))
                record("reports_refresh", step("reports", out=str(Path(pages, "reports"))))
                record("noop_ingest", step("pulse_ingest", url=url, state=state, page_size=page_size))
                record("noop_geocode", step("geocode"))
                record("noop_dbt", step("dbt_build", select=REFRESH_SELECT))
            # What the schedules run: the chicago_refresh job after a second 1% revision, then
            # again with nothing new upstream. Its dlt folder starts empty: cursors come from
            # the warehouse, where the steps above left them.
            with sample_api(**portal, revisions=2) as url:
                # one Dagster instance for both runs, as a deployment keeps: the second run
                # skips dbt only because the first one's build is on record there
                job = {"url": url, "reports": str(Path(pages, "job_reports")),
                       "home": str(Path(pages, "dagster_home"))}
                record("job_refresh", step("chicago_refresh_job", **job, fresh=True))
                record("job_noop", step("chicago_refresh_job", **job))
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


def report(rows: int, compare_rows: int, runs: dict[str, list[dict[str, Any]]],
           dataset_rows: int = 0, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    def secs(key: str) -> dict[str, float]:
        # to 0.1 ms: a ceiling's COPY of a small dataset takes a few milliseconds
        return summary([r["seconds"] for r in runs[key]], digits=4)

    def rss(key: str) -> float:
        return max(r["peak_rss_mb"] for r in runs[key])

    def med(key: str) -> float:
        return statistics.median(r["seconds"] for r in runs[key])

    def added(*keys: str) -> list[float]:
        return [sum(r["seconds"] for r in rep) for rep in zip(*(runs[k] for k in keys), strict=True)]

    def per_run(a: str, b: str, fn: Any) -> dict[str, float]:
        return ratio_summary([fn(x, y) for x, y in zip(runs[a], runs[b], strict=True)])

    def model_ratio(model: str) -> dict[str, float]:
        return per_run("dbt_incremental", "dbt_full",
                       lambda i, f: i["model_seconds"][model] / f["model_seconds"][model])

    # the whole portal: every dataset's ingest, the geocoder and dbt, per repetition
    backfill_total = added("backfill", *(f"backfill_{n}" for n in OTHER_ROWS), "boundaries",
                           "geocode_backfill", "dbt_full", "reports_backfill")
    refresh_total = added("refresh_ingest", *(f"refresh_{n}" for n in OTHER_ROWS), "boundaries_refresh",
                          "geocode_refresh", "dbt_incremental", "reports_refresh")
    noop_total = added("noop_ingest", "noop_geocode", "noop_dbt")
    figures = {
        key: {"seconds": secs(key), "peak_rss_mb": rss(key),
              "rows": runs[key][-1].get("rows"), "rows_rebuilt": runs[key][-1].get("rows_rebuilt")}
        for key in runs
    }
    if "demo" in runs:  # one step ran make demo several times: the runs after the first
        demo = [s for r in runs["demo"] for s in (r["runs"][1:] or r["runs"])]
        figures["demo"] |= {"seconds": summary(demo), "runs": runs["demo"][-1]["runs"]}
    for job, part in (("job_refresh", "steps"), ("job_noop", "steps"), ("defs_load", "parts")):
        names = dict.fromkeys(k for r in runs[job] for k in r.get(part, {}))  # in run order
        figures[job][part] = {k: round(statistics.median(r[part].get(k, 0.0) for r in runs[job]), 2)
                              for k in names}
    ratios = {
        # throughput ratios: rows/s of Pulse over rows/s of the other, per repetition
        "backfill_vs_untuned": per_run("compare_pulse", "compare_untuned",
                                       lambda p, u: u["seconds"] / p["seconds"]),
        "refresh_vs_backfill": ratio_summary([f / b for f, b in
                                              zip(refresh_total, backfill_total, strict=True)]),
        # the same refresh as the schedules run it: the chicago_refresh job, after a 1% revision
        "job_refresh_vs_backfill": ratio_summary([j["seconds"] / b for j, b in
                                                  zip(runs["job_refresh"], backfill_total, strict=True)]),
        "dbt_incremental_vs_full": per_run("dbt_incremental", "dbt_full",
                                           lambda i, f: i["seconds"] / f["seconds"]),
        # the incremental model alone: the work that should follow the change
        # the same without dbt's fixed start-up (about 3.5 s of imports and parsing)
        "dbt_incremental_vs_full_in_dbt": per_run("dbt_incremental", "dbt_full",
                                                  lambda i, f: i["dbt_elapsed"] / f["dbt_elapsed"]),
        "crimes_refresh_vs_backfill": per_run("refresh_ingest", "backfill",
                                              lambda f, b: f["seconds"] / b["seconds"]),
    }
    for name in ROWS:  # both ceilings load the rows Pulse's backfill loads: seconds compare
        for ceiling in CEILINGS:
            ratios[f"{name}_backfill_vs_{ceiling}"] = per_run(
                key("backfill", name), key(ceiling, name), lambda b, c: c["seconds"] / b["seconds"])
    for name in OTHER_ROWS:
        ratios[f"{name}_refresh_vs_backfill"] = per_run(f"refresh_{name}", f"backfill_{name}",
                                                        lambda f, b: f["seconds"] / b["seconds"])
    for name in ROWS:  # every enriched model: the work that should follow the change
        ratios[f"{name}_enriched_incremental_vs_full"] = model_ratio(enriched_model(name))
    targets: dict[str, bool] = {}
    for name in ROWS:
        for ceiling, share in CEILINGS.items():
            reached = ratios[f"{name}_backfill_vs_{ceiling}"]["median"]
            targets[ceiling_target(name, ceiling)] = reached >= share
        targets[rss_target(name)] = rss(key("backfill", name)) < BACKFILL_RSS_MB
    targets |= {
        SECOND_DEMO: figures["demo"]["seconds"]["median"] <= 45,
        JOB_NOOP: med("job_noop") < 5,
        JOB_REFRESH: ratios["job_refresh_vs_backfill"]["median"] <= 0.05,
        DBT_WHOLE: ratios["dbt_incremental_vs_full"]["median"] <= 0.10,
        DEFS_LOAD: med("defs_load") < 2,
        "backfill >= 5x untuned dlt": ratios["backfill_vs_untuned"]["median"] >= 5,
        "crimes 1% refresh ingest <= 10% of its backfill":
            ratios["crimes_refresh_vs_backfill"]["median"] <= 0.10,
    }
    for name in ROWS:
        targets[model_target(name)] = ratios[f"{name}_enriched_incremental_vs_full"]["median"] <= 0.10
    for name in OTHER_ROWS:
        targets[f"{name} 1% refresh ingest <= 10% of its backfill"] = \
            ratios[f"{name}_refresh_vs_backfill"]["median"] <= 0.10
    targets.update({
        "boundary layers load < 5 s": med("boundaries") < 5,
        "geocode 1M points < 60 s": med("geocode") < 60,
    })
    return {
        "rows": rows, "dataset_rows": dataset_rows, "compare_rows": compare_rows, "page_size": page_size,
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
    checks = result["targets"]
    if "job_noop" not in f:
        return (f"The Chicago results of {result['when']} predate the suite's present targets "
                "(docs/benchmarks.md) and cannot be shown by this version: run `make bench` "
                "(or `--only chicago`) to measure them.\n")

    def span(s: dict[str, float]) -> str:
        return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"

    def rate(key: str, n: int | None = None) -> str:
        n = f[key]["rows"] if n is None else n
        seconds = f[key]["seconds"]["median"]
        return f"{n / seconds:,.0f}" if seconds else "–"  # under 5 ms: too quick to time

    def counted(key: str) -> str:
        return f"{f[key]['rows']:,}" if f[key]["rows"] is not None else ""

    def met(name: str | None) -> str:
        return "–" if name is None else "yes" if checks[name] else "**no**"

    def timed(label: str, key: str, n: int | None = None, shown: str | None = None) -> str:
        """A step row: wall time, rows (and rows/s when `n` is given), peak RSS."""
        shown = shown if shown is not None else f"{n:,}" if n is not None else counted(key)
        speed = rate(key, n) if n else ""
        return (f"| {label} | {span(f[key]['seconds'])} | {shown} | {speed} | "
                f"{f[key]['peak_rss_mb']:.0f} MB |")

    def share(key: str) -> str:
        s = r[key]
        return f"{s['median']:.3f} ({s['min']:.3f}–{s['max']:.3f})"

    def target(label: str, figure: str, goal: str, name: str) -> str:
        return f"| {label} | {figure} | {goal} | {met(name)} |"

    enriched = (f["dbt_incremental"]["rows_rebuilt"] or {}).get(enriched_model("crimes"), "")
    demo_runs = ", ".join(f"{s:.0f} s" for s in f["demo"].get("runs", []) or [])
    lines = [
        f"Benchmark: {rows:,} synthetic crimes and {result['dataset_rows']:,} rows of each other rows "
        f"dataset, {result['page_size']:,} rows a page, median of {f['backfill']['seconds']['n']} runs "
        "(min–max), "
        f"{result['machine']['cores']} cores, {result['machine']['postgres']}, {result['when']}.",
        "",
        "| target (issue #14) | measured, median (min–max) | target | met |",
        "|---|---:|---|---|",
        target("second `make demo` (a fresh folder; make included)", span(f["demo"]["seconds"]),
               "<= 45 s", SECOND_DEMO),
        target("no-op refresh: the chicago_refresh job, nothing new upstream",
               span(f["job_noop"]["seconds"]), "< 5 s", JOB_NOOP),
        target("1% revision: the chicago_refresh job / the backfill (ingest + geocode + dbt + "
               "reports)", share("job_refresh_vs_backfill"), "<= 0.05", JOB_REFRESH),
        target("dbt incremental build / full build (wall time)", share("dbt_incremental_vs_full"),
               "<= 0.10", DBT_WHOLE),
        *(target(f"{enriched_model(name)}: incremental / full", share(f"{name}_enriched_incremental_vs_full"),
                 "<= 0.10", model_target(name)) for name in ROWS),
        *(target(f"{name} backfill / {ceiling.replace('_', ' ')} (rows/s)",
                 share(f"{name}_backfill_vs_{ceiling}"), f">= {share_:.2f}",
                 ceiling_target(name, ceiling))
          for name in ROWS for ceiling, share_ in CEILINGS.items()),
        *(target(f"{name} backfill peak RSS", f"{f[key('backfill', name)]['peak_rss_mb']:.0f} MB",
                 "< 1 GB", rss_target(name)) for name in ROWS),
        target("Dagster definitions load (imports included)", span(f["defs_load"]["seconds"]), "< 2 s",
               DEFS_LOAD),
        "",
        f"`make demo` ran {len(f['demo'].get('runs') or [])} times in a row in a folder of its own "
        f"({demo_runs}; the first is the backfill of a fresh clone). Each run of the chicago_refresh "
        "job, step by step (Dagster's step events, median of the repetitions):",
        "",
        "| chicago_refresh job step | 1% revision | nothing new |",
        "|---|---:|---:|",
    ]
    for step_key in sorted(f["job_refresh"].get("steps") or {}):
        lines.append(f"| {step_key} | {f['job_refresh']['steps'][step_key]:.2f} s | "
                     f"{(f['job_noop'].get('steps') or {}).get(step_key, 0):.2f} s |")
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in (f["defs_load"].get("parts") or {}).items())
    lines += [
        f"| the whole run | {span(f['job_refresh']['seconds'])} | {span(f['job_noop']['seconds'])} |",
        "",
        f"The definitions load, part by part (medians): {parts}.",
        "",
        "The same work step by step, each in its own process (where the time goes):",
        "",
        "| step | wall time | rows | rows/s | peak RSS |",
        "|---|---:|---:|---:|---:|",
        timed("sample API alone: render and send every page, only received", "sample_api", rows),
        timed("physical ceiling: one psycopg COPY from a local file", "physical_ceiling", rows),
        timed("network ceiling: pre-rendered pages over HTTP, parsed, one psycopg COPY",
              "network_ceiling", rows),
        timed("Pulse backfill, pre-rendered pages to raw", "backfill", rows),
        timed("boundary layers, API to raw (features; target < 5 s)", "boundaries"),
        timed("geocode the backfill's points", "geocode_backfill"),
        timed("dbt full build", "dbt_full", shown=""),
        timed("reports of the backfill", "reports_backfill"),
        timed("1% refresh: ingest", "refresh_ingest"),
        timed("1% refresh: geocode the new points", "geocode_refresh"),
        timed("1% refresh: dbt incremental build", "dbt_incremental", shown=f"{enriched} (crimes enriched)"),
        timed("1% refresh: reports", "reports_refresh"),
        timed("no-op refresh: ingest (crimes)", "noop_ingest"),
        timed("no-op refresh: geocode", "noop_geocode"),
        timed("no-op refresh: dbt build, run anyway", "noop_dbt", shown=""),
        timed("Dagster definitions load", "defs_load", shown=""),
        timed("Dagster: materialize one seed", "materialize_small", shown=""),
        timed("geocode: distinct points to ZIP and area (target < 60 s at 1M)", "geocode",
              f["geocode"]["rows"]),
        timed(f"Pulse at {result['compare_rows']:,} rows (from the sample API)", "compare_pulse",
              result["compare_rows"]),
        timed(f"untuned dlt at {result['compare_rows']:,} rows (from the sample API)", "compare_untuned",
              result["compare_rows"]),
        "",
        "Every rows dataset's backfill against its ceilings, the same run: rows/s of the median "
        "times; each ratio is Pulse's rows/s over the ceiling's, per repetition. Pulse and the "
        "network ceiling read the same pre-rendered pages (bench/pages.py).",
        "",
        "| dataset | rows | sample API rows/s | physical ceiling rows/s | network ceiling rows/s "
        "| Pulse backfill rows/s | Pulse / physical | Pulse / network | 1% refresh: ingest "
        "| rows fetched | refresh / backfill, ingest (target <= 0.10) | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in ROWS:
        backfill = key("backfill", name)
        refresh = "refresh_ingest" if name == "crimes" else f"refresh_{name}"
        lines.append(
            f"| {name} | {f[backfill]['rows']:,} | {rate(key('sample_api', name))} | "
            f"{rate(key('physical_ceiling', name))} | {rate(key('network_ceiling', name))} | "
            f"{rate(backfill)} | {share(f'{name}_backfill_vs_physical_ceiling')} | "
            f"{share(f'{name}_backfill_vs_network_ceiling')} | {span(f[refresh]['seconds'])} | "
            f"{f[refresh]['rows']:,} | {share(f'{name}_refresh_vs_backfill')} | "
            f"{met(f'{name} 1% refresh ingest <= 10% of its backfill')} |")
    lines += [
        "",
        "| other ratio or check (same run) | median (min–max) | target | met |",
        "|---|---:|---|---|",
        target("Pulse / untuned dlt throughput", share("backfill_vs_untuned"), ">= 5",
               "backfill >= 5x untuned dlt"),
        target("1% refresh step by step / backfill (ingest + geocode + dbt + reports)",
               share("refresh_vs_backfill"), "none (the job above is the target)", None),
        target("dbt incremental / full, dbt's own elapsed time (no start-up)",
               share("dbt_incremental_vs_full_in_dbt"), "none", None),
        target("boundary layers load", span(f["boundaries"]["seconds"]), "< 5 s",
               "boundary layers load < 5 s"),
        target(f"geocode {f['geocode']['rows']:,} points, end to end", span(f["geocode"]["seconds"]),
               "< 60 s (1M points)", "geocode 1M points < 60 s"),
        target("no-op refresh step by step (ingest + geocode + dbt run anyway)", span(t["noop"]),
               "none (the job above is the target)", None),
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def scratch_database(name: str) -> Iterator[None]:
    """A database of its own for a section: every step and dbt load into it; dropped after."""
    saved = dict(os.environ)
    roles.drop_database(name)
    conn = warehouse.create_database(name)
    os.environ["WAREHOUSE_URL"] = conn.url()  # every step and dbt load into this database
    os.environ.update(conn.libpq_env())
    from pulse.dbt import prepare_dbt

    prepare_dbt()  # the manifest names this database; the Dagster steps read it
    try:
        yield
    finally:
        from pipelines.load import default_pipelines_dir

        shutil.rmtree(default_pipelines_dir(), ignore_errors=True)  # the Dagster jobs' dlt state
        roles.drop_database(name)
        os.environ.clear()
        os.environ.update(saved)


def carried(previous: dict[str, Any] | None, section: str, now: str) -> str:
    """The line that says a section's numbers come from an earlier run, not this one."""
    if not previous:
        return f"{section}: not run on {now}, and no earlier results to show."
    return (f"**{section}: not re-run on {now}; the numbers below are from the run of "
            f"{previous['when']}.**")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=SECTIONS, default=None,
                        help="run one section; the other keeps its previous results, labelled with "
                             "their date")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-rows", type=int, default=100_000,
                        help="size of the untuned-dlt comparison (it is quadratic)")
    parser.add_argument("--geocode-points", type=int, default=None,
                        help="distinct points the geocoder locates (default: --rows)")
    parser.add_argument("--dataset-rows", type=int, default=None,
                        help="rows of each rows dataset besides crimes (default: --rows / 5)")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE,
                        help="rows a page of the Chicago rows datasets (the portal's most: 50,000)")
    parser.add_argument("--countries", type=int, default=200,
                        help="countries of the country section's universe (plus its aggregates)")
    parser.add_argument("--first-year", type=int, default=1960,
                        help="first year of the country section's universe (to 2025)")
    parser.add_argument("--log-lines", type=int, default=500_000,
                        help="generated access-log lines the logs section's local Loki serves")
    parser.add_argument("--demo-rows", type=int, default=None,
                        help="crimes of the `make demo` runs (default: make demo's own)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    parser.add_argument("--render", action="store_true",
                        help="run nothing: rewrite latest.md from the results in latest.json")
    args = parser.parse_args(argv)
    sections = [args.only] if args.only else list(SECTIONS)
    previous = _previous(args.out / "latest.json")
    if args.render:
        if previous is None:
            parser.error(f"--render: no {args.out / 'latest.json'} to render")
        table = render(previous)
        (args.out / "latest.md").write_text(table)
        print(table)
        return 0

    global POSTGRES
    POSTGRES = "embedded PostgreSQL 16" if warehouse.is_embedded() else "WAREHOUSE_URL's server"
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if "chicago" in sections:
        dataset_rows = args.dataset_rows if args.dataset_rows is not None else args.rows // 5
        # a name of its own per run, as the country section's: the tiny-scale test may run
        # while `make bench` does, on the same server
        with scratch_database(f"{DATABASE}_{os.getpid()}"):
            runs = run_suite(args.rows, args.repeat, min(args.compare_rows, args.rows),
                             args.geocode_points or args.rows, dataset_rows, args.page_size,
                             args.demo_rows)
        result = report(args.rows, min(args.compare_rows, args.rows), runs, dataset_rows, args.page_size)
        result["runs"] = runs
    else:  # the previous Chicago results, as they were (with their own "when")
        result = {k: v for k, v in (previous or {}).items()
                  if k not in ("countries", "events", "logs", "sections_run")}
    if "countries" in sections:
        # a name of its own per run: the tiny-scale test may run while `make bench` does
        with scratch_database(f"{countries.DATABASE}_{os.getpid()}"):
            scale, country_runs = countries.run_section(step, args.repeat, args.countries,
                                                        args.first_year)
        result["countries"] = countries.report(scale, country_runs, now)
        result["countries"]["machine"] = f"{os.cpu_count()} cores, {POSTGRES}"
        result["countries"]["runs"] = country_runs
    elif (previous or {}).get("countries"):
        result["countries"] = previous["countries"]
    if "events" in sections:
        with scratch_database(f"{events.DATABASE}_{os.getpid()}"):
            result["events"] = events.run_section()
        result["events"].update(when=now, machine=f"{os.cpu_count()} cores, {POSTGRES}")
    elif (previous or {}).get("events"):
        result["events"] = previous["events"]
    if "logs" in sections:
        # a name of its own per run: the tiny-scale test may run while `make bench` does
        with logs.scratch_database(f"{logs.DATABASE}_{os.getpid()}"):
            log_runs = logs.run_section(args.repeat, args.log_lines)
        result["logs"] = logs.report(args.log_lines, log_runs, now)
        result["logs"]["machine"] = f"{os.cpu_count()} cores, {POSTGRES}"
        result["logs"]["runs"] = log_runs
    elif (previous or {}).get("logs"):
        result["logs"] = previous["logs"]
    result["sections_run"] = {"when": now, "sections": sections}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    table = render(result)
    (args.out / "latest.md").write_text(table)
    print("\n" + table)
    return 0


def render(result: dict[str, Any]) -> str:
    """latest.md: each section's table; a section this run did not measure is shown with the
    date of the run it came from, or said to be missing."""
    run = result.get("sections_run") or {"when": result.get("when"), "sections": ["chicago"]}
    chicago = {k: v for k, v in result.items() if k not in ("countries", "events", "logs", "sections_run")}
    parts = []
    for section, title, data, table in (
            ("chicago", "Chicago", chicago if "figures" in chicago else None, markdown),
            ("countries", "Countries (World Bank, OECD)", result.get("countries"),
             lambda d: countries.markdown(d, d.get("machine", ""))),
            ("events", "Events (the collector, the drain)", result.get("events"), events.markdown),
            ("logs", "Logs (Loki to raw_logs)", result.get("logs"), logs.markdown)):
        text = table(data) if data else ""
        if section not in run["sections"]:
            text = carried(data, title.split(" ")[0], run["when"]) + ("\n\n" + text if text else "\n")
        parts.append(f"## {title}\n\n{text}")
    return "\n".join(parts)


def _previous(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
