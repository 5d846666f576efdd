"""`pulse demo`: the whole pipeline on the embedded warehouse against the local API.

Each run serves the same synthetic portal plus one more revision batch than the run
before (the count is kept in .warehouse/demo.json), so a second run shows an
incremental refresh: only the revised and new rows are fetched and loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from pulse import roles, warehouse
from pulse.cli import step
from pulse.dbt import export_dbt_env
from pulse.reports import report_models

STATE_FILE = "demo.json"
SEED = 20_01
DEMO_EVENTS = 3_000  # simulated SDK events a run sends to the collector
DEMO_TAG, PID_TAG = "pulse/demo", "pulse/demo_pid"  # on the demo's Dagster runs
PORTAL_URL = "http://127.0.0.1:8000/"  # `pulse serve`'s default address


def read_state(rows: int) -> dict:
    path = warehouse.data_dir() / STATE_FILE
    state = json.loads(path.read_text()) if path.exists() else {}
    if state.get("rows") != rows:  # another dataset size: start the story over
        state = {"rows": rows, "runs": 0}
    return state


def _write_state(state: dict) -> None:
    path = warehouse.data_dir() / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


def _mart_counts() -> list[tuple[str, int]]:
    # As the analyst, as a BI tool would: it sees exactly the marts dbt granted it.
    with roles.connect("analyst") as conn, conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' order by table_name"
        )
        names = [name for (name,) in cur.fetchall()]
        counts = []
        for name in names:
            cur.execute(f'select count(*) from marts."{name}"')  # names come from the catalog
            counts.append((name, cur.fetchone()[0]))
    return counts


def _print_mart(name: str, order: list[str] | None = None, limit: int = 5) -> None:
    """The first rows of a mart in its own order (`meta.portal.order`: columns, "-" for
    descending; the first column descending without one: the newest day or month)."""
    from psycopg2 import sql

    by = [sql.SQL("{} {}").format(sql.Identifier(c.lstrip("-")),
                                  sql.SQL("desc" if c.startswith("-") else "asc"))
          for c in order or []] or [sql.SQL("1 desc")]
    with roles.connect("analyst") as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("select * from {} order by {} limit {}").format(
            sql.Identifier("marts", name), sql.SQL(", ").join(by), sql.Literal(int(limit))))
        columns = [d.name for d in cur.description]
        rows = cur.fetchall()
    print("   " + " | ".join(columns))
    for row in rows:
        print("   " + " | ".join("" if v is None else str(v) for v in row))


@contextlib.contextmanager
def local_apis(rows: int, revision_share: float, state: dict) -> Iterator[dict[str, Any]]:
    """The local Socrata, World Bank, OECD and Loki APIs, serving the demo's synthetic data
    with `state["runs"]` revision batches applied, and every source pointed at them (the
    environment of this process and of the processes it starts); yields their counters."""
    from sample_api import SampleApi, chicago_portal
    from sample_api.countries import CountryApi, CountryUniverse

    from .logs_demo import demo_loki

    # crimes at `rows`, the other point datasets at a fifth of it: a minute, not five
    sizes = {"crimes": rows, **dict.fromkeys(
        ("service_requests", "traffic_crashes", "building_permits", "food_inspections"), rows // 5)}
    portal = chicago_portal(rows=sizes, seed=SEED)
    step(f"local Socrata API: {len(portal)} datasets ({rows:,} synthetic crimes, {rows // 5:,} "
         f"rows of each other point dataset), {state['runs']} revision batch(es)")
    for _ in range(state["runs"]):
        for dataset in portal.values():
            if hasattr(dataset, "apply_revision"):  # row datasets; boundaries stay as they are
                share = max(1, int(len(dataset) * revision_share / 2))
                dataset.apply_revision(new_rows=share, updated_rows=share)

    universe = CountryUniverse(seed=SEED)
    for run in range(state["runs"]):
        universe.revise(share=revision_share, seed=run)
    step(f"local World Bank and OECD APIs: {len(universe.countries)} economies, "
         f"{len(universe.indicator_ids)} indicators, {len(universe.oecd_dataflows)} OECD dataflows")
    with SampleApi(portal) as api, CountryApi(universe) as country_api, \
            demo_loki(state) as (loki, loki_holds):
        step(f"local Loki ({loki.url}): {loki_holds}; the shop's sitemap as a file")
        os.environ["SOURCES__CHICAGO__BASE_URL"] = api.url
        os.environ["SOURCES__WORLDBANK__BASE_URL"] = country_api.worldbank_url
        os.environ["SOURCES__OECD__BASE_URL"] = country_api.oecd_url
        # The request budget protects the live OECD service; the local API is not it, and
        # a few demo runs in an hour must not use up the budget a real load needs.
        os.environ.setdefault("SOURCES__OECD__REQUESTS_PER_HOUR", "1000")
        os.environ.setdefault("SOURCES__OECD__LEDGER_PATH",
                              str(warehouse.data_dir() / "demo_oecd_request_ledger.json"))
        # Nor does it need the 3 s between requests the live service asks for: the three
        # dataflows' loads spent about 9 s of a second demo sleeping.
        os.environ.setdefault("SOURCES__OECD__MIN_SECONDS_BETWEEN_REQUESTS", "0")
        yield {"api": api, "country_api": country_api, "loki": loki,
               "urls": f"{api.url}, {country_api.url}, {loki.url}"}


def dagster_instance():
    """The Dagster instance `pulse dev` reads (DAGSTER_HOME, else .dagster/): the demo's
    runs, materializations and checks show in its UI. A run an earlier demo left STARTED
    (the demo was killed) is marked failed first and its pool slots freed, or this run
    would wait for them for ever."""
    import dagster as dg

    from pulse.cli import dagster_home, write_dagster_yaml

    write_dagster_yaml(dagster_home())
    instance = dg.DagsterInstance.get()
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED],
                                                      tags={DEMO_TAG: "true"}))
    for run in started:
        if _alive(int(run.tags.get(PID_TAG, "0"))):
            continue  # another demo, still running: its slots are its own
        instance.report_run_failed(run, "its demo process ended without finishing it")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return instance


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_demo(rows: int, revision_share: float) -> int:
    import dagster as dg

    from pulse.dbt import prepare_dbt

    started = time.perf_counter()
    step("warehouse: " + warehouse.connection().redacted())
    dbt_conn = export_dbt_env()  # dbt runs as the transformer role, dlt as the loader
    step("dbt manifest")
    manifest = prepare_dbt(conn=dbt_conn)  # before the dbt assets load it; parsed as dbt builds
    from orchestration.definitions import materializable_assets
    from orchestration.lib.resources import resources

    state = read_state(rows)
    from .events_demo import send_demo_events
    from .logs_demo import recorded_spoofers
    from .progress import RunProgress

    step("collector (pulse collect): " + send_demo_events(DEMO_EVENTS, seed=state["runs"]))
    instance = dagster_instance()
    with local_apis(rows, revision_share, state) as apis:
        step(f"materializing every asset (APIs {apis['urls']} -> raw -> geocode -> staging -> "
             f"enriched -> marts -> reports/), recorded in the Dagster instance at "
             f"{instance.root_directory}")
        # the progress lines find this run by the last tag: new for each demo
        tags = {DEMO_TAG: "true", PID_TAG: str(os.getpid()), "pulse/demo_run": uuid.uuid4().hex}
        terminal = sys.stdout
        progress = RunProgress(instance, tags, say=lambda line: print(line, file=terminal,
                                                                      flush=True))
        progress.start()
        # dagster-dbt echoes every line of dbt's output to stdout: to a file, so the
        # progress lines stay readable (the run's events keep it all too)
        dbt_log = warehouse.data_dir() / "demo_dbt.log"
        dbt_log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(dbt_log, "w", encoding="utf-8") as dbt_out, \
                    contextlib.redirect_stdout(dbt_out):
                result = dg.materialize(
                    materializable_assets(),
                    resources=resources(),
                    instance=instance,
                    tags=tags,
                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                    raise_on_error=False,
                )
        finally:
            progress.stop()
        step(f"dbt's own output: {dbt_log}")
        fetched = sum(r.rows for r in apis["api"].data_requests())
        country_requests = len(apis["country_api"].requests)
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(event.message)
        print(f"demo failed: see the errors above, and dbt's output in {dbt_log}", flush=True)
        return 1

    state["runs"] += 1
    _write_state(state)
    if state["runs"] == 1:
        what = "the backfill"
    else:
        what = (f"about {revision_share:.0%} of each dataset new or revised upstream since the "
                "last run, the rest re-read from the overlap window before the cursor")
    step(f"done in {time.perf_counter() - started:.1f}s: fetched {fetched:,} rows from the "
         f"Socrata API ({what}); {country_requests} World Bank and OECD requests")
    for table, count in _raw_counts():
        print(f" - {table}: {count:,} rows")
    print("\nReport marts:")
    orders = {m.name: m.portal.get("order") for m in report_models(manifest)}
    for name, count in _mart_counts():
        print(f" - marts.{name}: {count:,} rows")
        _print_mart(name, orders.get(name))
    _print_lake()
    spoofers = recorded_spoofers()
    if spoofers:
        print(f"\nSpoofed crawlers in the recorded logs: {len(spoofers)} addresses claim a "
              "crawler from outside its engine's published ranges; the newest:")
        for crawler, address, hits, first_seen in spoofers[:8]:
            print(f" - {crawler} from {address}: {hits} request(s), first "
                  f"{first_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    reports = _reports_index().rsplit("/", 1)[0]
    print(
        "\nNext:\n"
        "  make demo        again: applies one more revision batch and loads only the delta\n"
        "  .venv/bin/pulse dev     the Dagster UI on http://127.0.0.1:3000: this run's assets, "
        "checks and lineage\n"
        "  .venv/bin/pulse dev --local-apis   the same, serving the local APIs, so "
        "\"Materialize all\" works offline\n"
        "  .venv/bin/pulse docs    the dbt docs site on http://127.0.0.1:8080\n"
        "  .venv/bin/pulse db psql psql as the analyst (--role admin for all)\n"
        "  .venv/bin/pulse collect the event collector (docs/events.md); pulse sql queries the lake\n"
        f"\nThe portal (every report with its chart and rows, the country dashboard, the report "
        f"API, /health, /metrics): run .venv/bin/pulse serve, then open\n  {PORTAL_URL}\n"
        f"(the same pages as files: {reports}/index.html)"
    )
    return 0


def _print_lake() -> None:
    from pipelines.events.settings import lake_url

    from .events_demo import lake_counts

    url = lake_url()
    if not url or "://" in url:  # off, or in object storage: `pulse sql` reads it
        return
    print(f"\nThe event lake ({url}), read by DuckDB:")
    for day, rows, messages in lake_counts(url):
        print(f" - dt={day}: {rows:,} rows, {messages:,} distinct messages")


def _raw_counts() -> list[tuple[str, int]]:
    from pipelines.chicago.settings import load_datasets
    from pipelines.oecd.settings import load_dataflows

    tables = [f"raw_chicago.{name}" for name in load_datasets()]
    tables += [f"raw_worldbank.{name}" for name in ("countries", "indicator_values")]
    tables += [f"raw_oecd.{name}" for name in load_dataflows()]
    tables += ["raw_events.events", "raw_events.bad_events"]
    tables += [f"raw_logs.{name}" for name in ("lines", "requests", "request_rejects", "sitemap_urls")]
    counts = []
    with roles.connect("transformer") as conn, conn.cursor() as cur:
        for table in tables:  # names from the sources' declarations
            schema, name = table.split(".")
            cur.execute("select to_regclass(%s)", (f'{schema}."{name}"',))
            if cur.fetchone()[0] is None:  # not loaded yet (no bad event so far, say)
                continue
            cur.execute(f'select count(*) from {schema}."{name}"')
            counts.append((table, cur.fetchone()[0]))
    return counts


def _reports_index() -> str:
    from pulse.reports import reports_dir

    return str(reports_dir() / "index.html")
