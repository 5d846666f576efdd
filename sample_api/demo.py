"""`pulse demo`: the whole pipeline on the embedded warehouse against the local API.

Each run serves the same synthetic portal plus one more revision batch than the run
before (the count is kept in .warehouse/demo.json), so a second run shows an
incremental refresh: only the revised and new rows are fetched and loaded.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC

from pulse import roles, warehouse
from pulse.cli import step
from pulse.dbt import export_dbt_env

STATE_FILE = "demo.json"
SEED = 20_01
DEMO_EVENTS = 3_000  # simulated SDK events a run sends to the collector


def _read_state(rows: int) -> dict:
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


def _print_mart(name: str, limit: int = 5) -> None:
    with roles.connect("analyst") as conn, conn.cursor() as cur:
        cur.execute(f'select * from marts."{name}" order by 1 desc limit {int(limit)}')
        columns = [d.name for d in cur.description]
        rows = cur.fetchall()
    print("   " + " | ".join(columns))
    for row in rows:
        print("   " + " | ".join("" if v is None else str(v) for v in row))


def run_demo(rows: int, revision_share: float) -> int:
    import dagster as dg

    from pulse.dbt import prepare_dbt
    from sample_api import SampleApi, chicago_portal
    from sample_api.countries import CountryApi, CountryUniverse

    started = time.perf_counter()
    step("warehouse: " + warehouse.connection().redacted())
    dbt_conn = export_dbt_env()  # dbt runs as the transformer role, dlt as the loader
    step("dbt manifest")
    prepare_dbt(conn=dbt_conn)  # before the dbt assets load it; parsed as dbt builds
    from orchestration.definitions import materializable_assets
    from orchestration.lib.resources import resources

    state = _read_state(rows)
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

    from .events_demo import send_demo_events
    from .logs_demo import demo_loki, recorded_spoofers

    step("collector (pulse collect): " + send_demo_events(DEMO_EVENTS, seed=state["runs"]))
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
        step(f"materializing every asset (APIs {api.url}, {country_api.url}, {loki.url} -> raw -> geocode "
             "-> staging -> enriched -> marts -> reports/)")
        result = dg.materialize(
            materializable_assets(),
            resources=resources(),
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=False,
        )
        fetched = sum(r.rows for r in api.data_requests())
        country_requests = len(country_api.requests)
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(event.message)
        print("demo failed: see the errors above", flush=True)
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
    for name, count in _mart_counts():
        print(f" - marts.{name}: {count:,} rows")
        _print_mart(name)
    _print_lake()
    spoofers = recorded_spoofers()
    if spoofers:
        print(f"\nSpoofed crawlers in the recorded logs: {len(spoofers)} addresses claim a "
              "crawler from outside its engine's published ranges; the newest:")
        for crawler, address, hits, first_seen in spoofers[:8]:
            print(f" - {crawler} from {address}: {hits} request(s), first "
                  f"{first_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        "\nNext:\n"
        f"  {_reports_index()}  every report as CSV, Parquet and JSON\n"
        f"  {_reports_index().rsplit('/', 1)[0]}/countries/  one CSV per country\n"
        "  make demo        again: applies one more revision batch and loads only the delta\n"
        "  .venv/bin/pulse dev     the Dagster UI (asset graph, checks) on http://127.0.0.1:3000\n"
        "  .venv/bin/pulse docs    the dbt docs site on http://127.0.0.1:8080\n"
        "  .venv/bin/pulse serve   the reports, the report API, /health and /metrics on "
        "http://127.0.0.1:8000 (docs/reports.md#the-report-api)\n"
        "  .venv/bin/pulse db psql psql as the analyst (--role admin for all)\n"
        "  .venv/bin/pulse collect the event collector (docs/events.md); pulse sql queries the lake"
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
