"""The country section of `make bench`: the World Bank and OECD sources against the local API.

    .venv/bin/python -m bench.suite --only countries --repeat 3

Each repetition serves a fresh `CountryUniverse` (default: 200 countries + 48 aggregates,
1960-2025) from this process (threads, idle while a step runs in its own process) and, on
empty schemas each time: runs Dagster's `countries_refresh` job once in full and once with
nothing changed (a process and a temporary instance each); then backfills each provider,
builds the country models in full, refreshes each provider with nothing changed, revises 1%
(`universe.revise(share=0.01)`) and refreshes again.

Requests are counted by the API itself. The OECD client's minimum spacing between requests
is set to 0 for every measurement (dataflows.yml asks 3 s, i.e. +3 s per request after the
first); its hourly budget stays the default (20), and the local API's budget is set high so
the server never answers 429. What each load spends of the default budget is reported.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from typing import Any

from pulse import warehouse

DATABASE = "pulse_bench_countries"
SCHEMAS = ("raw_worldbank", "raw_oecd", "staging", "enriched", "marts", "seeds")
# staging -> enriched -> marts of the country models, with their tests
DBT_SELECT = "path:dbt_project/models/staging/worldbank+ path:dbt_project/models/staging/oecd+"
SERVER_OECD_PER_HOUR = 1_000_000  # the local API never answers 429 in the benchmark
DEFAULT_SPACING_SECONDS = 3.0  # dataflows.yml's min_seconds_between_requests (set to 0 here)
REVISION_SHARE = 0.01
REVISION_SEED = 1
JOB_TARGET_SECONDS = 30
# The no-change refreshes, in requests: the country list and a probe per indicator (12);
# a query per dataflow (3).
EXPECTED_NOOP_REQUESTS = {"worldbank": 13, "oecd": 3}
PROVIDER_PATHS = {"worldbank": "/v2/", "oecd": "/public/rest/"}

Step = Callable[..., dict[str, Any]]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def reset_schemas() -> None:
    with warehouse.connect() as conn, conn.cursor() as cur:
        for schema in SCHEMAS:
            cur.execute(f"drop schema if exists {schema} cascade")  # names are constants


def run_section(step: Step, repeat: int, countries: int = 200, first_year: int = 1960,
                last_year: int = 2025, seed: int = 2026) -> tuple[dict[str, Any], dict[str, list]]:
    """(the universe's size, {figure key: [a result per repetition]})."""
    from pipelines.load import default_pipelines_dir
    from pipelines.worldbank.settings import load_indicators
    from sample_api.countries import CountryApi, CountryUniverse

    runs: dict[str, list[dict[str, Any]]] = {}
    declared = list(load_indicators())
    scale: dict[str, Any] = {}
    for r in range(repeat):
        universe = CountryUniverse(seed=seed, countries=countries, first_year=first_year,
                                   last_year=last_year)
        scale = universe_size(universe, declared, seed, first_year, last_year)
        print(f"countries {r + 1}/{repeat}: {scale['economies']} economies, "
              f"{scale['worldbank_values']:,} World Bank values, {scale['oecd_observations']:,} "
              f"OECD observations", flush=True)
        reset_schemas()
        with (CountryApi(universe, oecd_requests_per_hour=SERVER_OECD_PER_HOUR) as api,
              tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as reports):

            def measured(key: str, provider: str | None, name: str, **args: Any) -> None:
                api.requests.clear()
                result = step(name, **args)
                made = [q for q in api.requests
                        if provider is None or q.path.startswith(PROVIDER_PATHS[provider])]
                result["requests"] = len(made)
                result["served_rows"] = sum(q.rows or 0 for q in made)
                # the machine may be shared: what else ran shows in the load average
                result["load_average"] = round(os.getloadavg()[0], 2)
                runs.setdefault(key, []).append(result)

            # Dagster first, on the universe as published: the first run loads and builds
            # everything, the second finds nothing new (a process each, one instance kept in
            # a folder: dbt skips only when its last build is on record there). After a
            # revision it would not: OECD refreshes re-ask the hour before their last
            # request (overlap_seconds), so for an hour a revision is seen again.
            job = {"worldbank_url": api.worldbank_url, "oecd_url": api.oecd_url, "reports": reports,
                   "home": os.path.join(state, "dagster_home")}
            try:
                measured("job_first", None, "countries_refresh_job", fresh=True, **job)
                measured("job_noop", None, "countries_refresh_job", **job)
            finally:
                shutil.rmtree(default_pipelines_dir(), ignore_errors=True)  # the job's dlt state

            reset_schemas()
            wb, oecd = {"url": api.worldbank_url, "state": state}, {"url": api.oecd_url, "state": state}
            measured("wb_backfill", "worldbank", "worldbank_ingest", **wb)
            measured("oecd_backfill", "oecd", "oecd_ingest", **oecd)
            measured("dbt_full", None, "dbt_build", full_refresh=True, select=DBT_SELECT)
            measured("wb_noop", "worldbank", "worldbank_ingest", **wb)
            measured("oecd_noop", "oecd", "oecd_ingest", **oecd)
            revised = universe.revise(share=REVISION_SHARE, seed=REVISION_SEED)
            scale["revision"] = {"indicators": list(revised.indicators),
                                 "declared_indicators": [i for i in revised.indicators if i in declared],
                                 "worldbank_values_revised": revised.values_revised,
                                 "oecd_revised": revised.oecd_revised, "oecd_added": revised.oecd_added,
                                 "oecd_deleted": revised.oecd_deleted}
            measured("wb_refresh", "worldbank", "worldbank_ingest", **wb)
            measured("oecd_refresh", "oecd", "oecd_ingest", **oecd)
    return scale, runs


def universe_size(universe: Any, declared: list[str], seed: int, first_year: int,
                  last_year: int) -> dict[str, Any]:
    economies = universe.countries
    return {
        "seed": seed, "first_year": first_year, "last_year": last_year,
        "economies": len(economies),
        "countries": sum(not c.is_aggregate for c in economies),
        "aggregates": sum(c.is_aggregate for c in economies),
        "indicators": len(declared),
        "worldbank_values": sum(len(universe.worldbank_rows(i)) for i in declared),
        "dataflows": len(universe.oecd_dataflows),
        "oecd_observations": sum(len(universe.oecd_rows(n)) for n in universe.oecd_dataflows),
    }


def report(scale: dict[str, Any], runs: dict[str, list[dict[str, Any]]], when: str) -> dict[str, Any]:
    def per_run(a: str, b: str, fn: Callable[[dict, dict], float]) -> dict[str, float]:
        return summary([fn(x, y) for x, y in zip(runs[a], runs[b], strict=True)])

    def last(key: str, field: str) -> Any:
        return runs[key][-1].get(field)

    def every(key: str, field: str) -> list[Any]:
        return [r.get(field) for r in runs[key]]

    from pipelines.oecd.settings import load_settings

    budget = load_settings().requests_per_hour
    figures = {
        key: {"seconds": summary([r["seconds"] for r in results]),
              "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
              "rows": last(key, "rows"), "requests": last(key, "requests"),
              "served_rows": last(key, "served_rows"),
              **({"tables": last(key, "tables")} if last(key, "tables") else {}),
              **({"ledger_attempts": last(key, "ledger_attempts")}
                 if last(key, "ledger_attempts") is not None else {})}
        for key, results in runs.items()
    }
    loads = [r["load_average"] for results in runs.values() for r in results if "load_average" in r]
    figures["job_noop"]["built_downstream"] = last("job_noop", "built_downstream")
    figures["job_noop"]["materialized"] = last("job_noop", "materialized")
    figures["job_first"]["materialized"] = len(last("job_first", "materialized"))
    ratios = {
        "worldbank_refresh_vs_backfill": per_run("wb_refresh", "wb_backfill",
                                                 lambda f, b: f["seconds"] / b["seconds"]),
        "oecd_refresh_vs_backfill": per_run("oecd_refresh", "oecd_backfill",
                                            lambda f, b: f["seconds"] / b["seconds"]),
        # the same in rows fetched: what the refresh asked the API for
        "worldbank_refresh_rows_vs_backfill": per_run(
            "wb_refresh", "wb_backfill", lambda f, b: f["served_rows"] / b["served_rows"]),
        "oecd_refresh_rows_vs_backfill": per_run(
            "oecd_refresh", "oecd_backfill", lambda f, b: f["served_rows"] / b["served_rows"]),
    }
    oecd_spent = {key: max(every(key, "ledger_attempts")) for key in ("oecd_backfill", "oecd_noop",
                                                                       "oecd_refresh")}
    job_noop = statistics.median(every("job_noop", "seconds"))
    targets = {
        "World Bank no-change refresh: 13 requests":
            set(every("wb_noop", "requests")) == {EXPECTED_NOOP_REQUESTS["worldbank"]},
        "OECD no-change refresh: 3 requests":
            set(every("oecd_noop", "requests")) == {EXPECTED_NOOP_REQUESTS["oecd"]},
        "no-change refreshes load 0 rows":
            set(every("wb_noop", "rows")) | set(every("oecd_noop", "rows")) == {0},
        "World Bank 1% refresh <= 10% of its backfill (ingest)":
            ratios["worldbank_refresh_vs_backfill"]["median"] <= 0.10,
        "OECD 1% refresh <= 10% of its backfill (ingest)":
            ratios["oecd_refresh_vs_backfill"]["median"] <= 0.10,
        f"no-change countries_refresh job < {JOB_TARGET_SECONDS} s": job_noop < JOB_TARGET_SECONDS,
        "no-change countries_refresh job builds nothing downstream (dbt skipped)":
            all(not built for built in every("job_noop", "built_downstream")),
        f"OECD backfill + a refresh within the default {budget}/hour":
            oecd_spent["oecd_backfill"] + oecd_spent["oecd_refresh"] <= budget,
    }
    return {
        "when": when, "universe": scale, "figures": figures, "ratios": ratios, "targets": targets,
        "oecd_budget": {"requests_per_hour": budget, "spent": oecd_spent,
                        "default_spacing_seconds": DEFAULT_SPACING_SECONDS,
                        "measured_spacing_seconds": 0,
                        "server_requests_per_hour": SERVER_OECD_PER_HOUR},
        "dbt_select": DBT_SELECT,
        **({"load_average": {"min": min(loads), "max": max(loads)}} if loads else {}),
    }


def markdown(result: dict[str, Any], machine: str) -> str:
    f, r, u, checks = result["figures"], result["ratios"], result["universe"], result["targets"]
    budget = result["oecd_budget"]
    per_hour, spent = budget["requests_per_hour"], budget["spent"]

    def span(s: dict[str, float]) -> str:
        return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"

    def number(n: Any) -> str:
        return f"{n:,}" if isinstance(n, int) else ""

    def row(label: str, key: str, rows: Any = None, rate: bool = False) -> str:
        x = f[key]
        shown = x["rows"] if rows is None else rows
        speed = f"{shown / x['seconds']['median']:,.0f}" if rate and shown else ""
        return (f"| {label} | {span(x['seconds'])} | {number(shown)} | {speed} | "
                f"{number(x['requests'])} | {x['peak_rss_mb']:.0f} MB |")

    def met(name: str) -> str:
        return "yes" if checks[name] else "no"

    def ratio(label: str, key: str, target: str, name: str | None) -> str:
        s = r[key]
        return (f"| {label} | {s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) | {target} | "
                f"{met(name) if name else ''} |")

    def share(n: int) -> str:
        return f"{n} of {per_hour} ({n / per_hour:.0%})"

    revision = u.get("revision", {})
    built = f["job_noop"]["built_downstream"]
    wb_noop, oecd_noop = f["wb_noop"]["requests"], f["oecd_noop"]["requests"]
    lines = [
        f"Countries: `CountryUniverse(seed={u['seed']})`, {u['countries']} countries + "
        f"{u['aggregates']} aggregates, {u['first_year']}–{u['last_year']}: "
        f"{u['worldbank_values']:,} World Bank values ({u['indicators']} indicators), "
        f"{u['oecd_observations']:,} OECD observations ({u['dataflows']} dataflows); median of "
        f"{f['wb_backfill']['seconds']['n']} runs (min–max), {machine}, {result['when']}. "
        f"Requests as the local API counted them. The OECD client's spacing between requests "
        f"was set to 0 for these measurements (dataflows.yml: {budget['default_spacing_seconds']:g} s, "
        f"i.e. +{budget['default_spacing_seconds']:g} s per request after the first); the local "
        f"API's OECD budget was set high so it never answered 429."
        + (f" 1-minute load average after the steps: {result['load_average']['min']:.1f}–"
           f"{result['load_average']['max']:.1f}." if "load_average" in result else ""),
        "",
        "| step | wall time | rows | rows/s | requests | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
        row("World Bank backfill, API to raw_worldbank (values)", "wb_backfill", rate=True),
        row("OECD backfill, API to raw_oecd (3 dataflows)", "oecd_backfill", rate=True),
        row("dbt build of the country models, full (staging → enriched → marts, tests)",
            "dbt_full", rows=""),
        row("World Bank no-change refresh (rows loaded)", "wb_noop"),
        row("OECD no-change refresh (rows loaded)", "oecd_noop"),
        row("World Bank 1% revision refresh (rows fetched)", "wb_refresh",
            rows=f["wb_refresh"]["served_rows"]),
        row("OECD 1% revision refresh (rows fetched)", "oecd_refresh",
            rows=f["oecd_refresh"]["served_rows"]),
        row("Dagster countries_refresh, first run (everything)", "job_first", rows=""),
        row("Dagster countries_refresh, nothing changed", "job_noop", rows=""),
        "",
        "Peak RSS is the step process's own high-water mark (VmHWM), or its children's "
        "(dbt) when larger.",
        "",
        f"The 1% revision (`universe.revise(share={REVISION_SHARE}, seed={REVISION_SEED})`) revised "
        f"{revision.get('worldbank_values_revised', 0):,} World Bank values in "
        f"{len(revision.get('indicators', []))} indicators, "
        f"{len(revision.get('declared_indicators', []))} of them loaded by Pulse "
        f"({', '.join(revision.get('declared_indicators', []))}; the source refetches an indicator whose "
        f"lastupdated moved in full) and revised/added/deleted {revision.get('oecd_revised', 0)}/"
        f"{revision.get('oecd_added', 0)}/{revision.get('oecd_deleted', 0)} OECD observations. "
        f"With nothing changed, the Dagster job reported its raw tables "
        f"({', '.join(k for k in f['job_noop']['materialized'] if k.startswith('raw_')) or 'none'}) "
        f"and built "
        f"{', '.join(built) if built else 'nothing downstream: dbt and the reports skipped'}.",
        "",
        f"OECD request budget (default {per_hour}/hour, one ledger for every process on the machine): "
        f"the backfill spends {share(spent['oecd_backfill'])}, a no-change refresh "
        f"{share(spent['oecd_noop'])}, a 1% refresh {share(spent['oecd_refresh'])}: "
        f"{per_hour // max(1, spent['oecd_refresh'])} refreshes an hour at most.",
        "",
        "| ratio / check (same run) | median (min–max) | target | met |",
        "|---|---:|---|---|",
        f"| World Bank no-change refresh: requests | {wb_noop} | == 13 (country list + 12 probes) | "
        f"{met('World Bank no-change refresh: 13 requests')} |",
        f"| OECD no-change refresh: requests | {oecd_noop} | == 3 (a query per dataflow) | "
        f"{met('OECD no-change refresh: 3 requests')} |",
        f"| no-change refreshes: rows loaded | {f['wb_noop']['rows']} + {f['oecd_noop']['rows']} | 0 | "
        f"{met('no-change refreshes load 0 rows')} |",
        ratio("World Bank: 1% refresh / backfill (ingest)", "worldbank_refresh_vs_backfill", "<= 0.10",
              "World Bank 1% refresh <= 10% of its backfill (ingest)"),
        ratio("the same in rows fetched", "worldbank_refresh_rows_vs_backfill", "", None),
        ratio("OECD: 1% refresh / backfill (ingest)", "oecd_refresh_vs_backfill", "<= 0.10",
              "OECD 1% refresh <= 10% of its backfill (ingest)"),
        ratio("the same in rows fetched", "oecd_refresh_rows_vs_backfill", "", None),
        f"| no-change countries_refresh job | {span(f['job_noop']['seconds'])} | "
        f"< {JOB_TARGET_SECONDS} s | {met(f'no-change countries_refresh job < {JOB_TARGET_SECONDS} s')} |",
        f"| no-change job: dbt and reports skipped | {len(f['job_noop']['built_downstream'])} built | 0 | "
        f"{met('no-change countries_refresh job builds nothing downstream (dbt skipped)')} |",
        f"| OECD backfill + 1% refresh, requests | {spent['oecd_backfill'] + spent['oecd_refresh']} | "
        f"<= {per_hour} an hour | {met(f'OECD backfill + a refresh within the default {per_hour}/hour')} |",
    ]
    return "\n".join(lines) + "\n"
