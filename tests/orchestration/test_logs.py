"""The logs assets for real: the Dagster job logs_refresh (what its 5-minute schedule
runs) reads the local Loki through the loki source as the loader, builds the crawl
models as the transformer with their checks, and writes the reports; sitemaps_refresh
loads the sitemap. A second run reads only what is new."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import dagster as dg
import duckdb

from sample_api.loki import Entry, LocalLoki, LogStore
from sample_api.weblogs import WebTraffic
from tests.conftest import query, run_dbt


def entries(visits, offset: int = 0) -> list[Entry]:
    return [Entry(int(v.requested_at.timestamp()) * 10**9 + offset + i, v.line(), (("job", "nginx"),))
            for i, v in enumerate(visits)]


def test_logs_refresh_and_sitemaps_refresh_build_the_crawl_reports(warehouse_db, dbt_manifest,
                                                                  monkeypatch, tmp_path):
    from orchestration.definitions import defs

    defs = defs()
    for schema in ("raw_logs", "raw_logs_staging"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    # the incremental model keeps the lines of earlier tests in this database (the log
    # marts' own tests): start it empty, as a new warehouse would
    query(warehouse_db, "drop table if exists enriched.int_logs__requests_classified cascade")
    assert run_dbt("seed", "--select", "crawler_ip_ranges", "crawler_user_agents").returncode == 0
    traffic = WebTraffic(seed=3, pages=120)
    (tmp_path / "sitemap.xml").write_text(traffic.sitemap_xml())
    start = datetime.fromtimestamp(time.time() - 6 * 3600, UTC)
    visits = traffic.generate(1500, start=start, seconds=3 * 3600)
    loki = LocalLoki(store=LogStore(entries(visits))).start()
    try:
        monkeypatch.setenv("SOURCES__LOKI__BASE_URL", loki.url)
        monkeypatch.setenv("SOURCES__SITEMAPS__LOCATIONS", f'["{tmp_path / "sitemap.xml"}"]')
        monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "reports"))
        monkeypatch.setenv("PULSE_LAKE_URL", str(tmp_path / "lake"))
        with dg.instance_for_test() as instance:
            sitemaps = defs.resolve_job_def("sitemaps_refresh").execute_in_process(instance=instance)
            assert sitemaps.success
            job = defs.resolve_job_def("logs_refresh")
            first = job.execute_in_process(instance=instance)
            assert first.success
            built = {m.asset_key.to_user_string(): m for m in first.get_asset_materialization_events()}
            assert {"raw_logs/lines", "raw_logs/requests", "raw_logs/request_rejects", "lake/logs_lines",
                    "enriched/int_logs__requests_classified", "marts/rpt_logs__spoofed_crawlers",
                    "reports/rpt_logs__crawl_budget_daily"} <= built.keys()
            assert built["raw_logs/lines"].materialization.metadata["dagster/row_count"].value == 1500
            checks = first.get_asset_check_evaluations()
            assert len(checks) >= 10 and all(c.passed for c in checks), \
                [c.check_name for c in checks if not c.passed]
            assert (tmp_path / "reports" / "rpt_logs__spoofed_crawlers.csv").exists()

            # an hour later: 200 more lines; the run asks Loki only from the cursor on
            later = datetime.fromtimestamp(time.time() - 3600, UTC)
            loki.store.push(entries(traffic.generate(200, start=later, seconds=600), offset=7))
            asked_before = len(loki.faults.requests)
            assert job.execute_in_process(instance=instance).success
            starts = [int(r["start"]) for r in loki.faults.requests[asked_before:]]
        assert query(warehouse_db, "select count(*) from raw_logs.lines") == [(1700,)]
        # the readers of new loads have their index (a range scan, not every line ever)
        assert query(warehouse_db, "select to_regclass('raw_logs.requests__dlt_load_id') is not null")\
            == [(True,)]
        lake = str(tmp_path / "lake" / "logs" / "lines" / "*" / "*" / "*.parquet")
        assert duckdb.sql(f"select count(*), count(distinct line_id) from read_parquet('{lake}')"
                          ).fetchall() == [(1700, 1700)]
        assert query(warehouse_db, "select count(*) from enriched.int_logs__requests_classified") \
            == [(1700,)]
        newest_first = max(int(v.requested_at.timestamp()) for v in visits) * 10**9
        assert min(starts) >= newest_first - 300 * 10**9  # the cursor less the overlap
    finally:
        loki.stop()
