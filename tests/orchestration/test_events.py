"""The events path as production runs it: a real `pulse collect`, simulated SDKs (retries,
skew, invalid events), the events_refresh job (drain -> raw_events and the lake -> dbt ->
reports) with roles on, twice; every acknowledged message in the marts exactly once."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import duckdb

from sample_api.traffic import TrafficGenerator
from tests.collector.conftest import start_collector
from tests.conftest import query


def marts_per_day(conn) -> Counter:
    rows = query(conn, "select event_date, call_type, event_name, events from marts.rpt_events__daily")
    return Counter({(d, t, n): c for d, t, n, c in rows})


def test_events_refresh_counts_every_acknowledged_message_once(warehouse_db, dbt_manifest,
                                                               tmp_path, monkeypatch):
    from orchestration.definitions import defs

    for schema in ("raw_events",):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    for table in ("stg_events__events",):
        query(warehouse_db, f"drop table if exists staging.{table} cascade")
    for mart in ("hourly", "daily", "active_users", "ingestion_lag"):
        query(warehouse_db, f"drop table if exists marts.rpt_events__{mart} cascade")
    spool, lake = tmp_path / "spool", tmp_path / "lake"
    monkeypatch.setenv("PULSE_COLLECTOR_SPOOL", str(spool))
    monkeypatch.setenv("PULSE_LAKE_URL", str(lake))
    monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "reports"))
    job = defs().resolve_job_def("events_refresh")

    collector = start_collector(spool, tmp_path / "collector.log")
    traffic = TrafficGenerator(collector.url, "test-key-web", seed=3, retry_rate=0.1)
    try:
        traffic.send(1500)
    finally:
        collector.stop()  # seals its open segment
    truth = traffic.truth
    assert truth.retried > 10 and truth.bad_reasons

    with dg.instance_for_test() as instance:
        first = job.execute_in_process(instance=instance)
        assert first.success
        check_marts(warehouse_db, truth)
        checks = {c.check_name: c.passed for c in first.get_asset_check_evaluations()}
        assert checks.get("ingestion_lag_p95") is True, checks
        assert all(checks.values()), checks

        # More traffic, and the same requests again (clients that retried late): the marts
        # take the new messages, and the old ones still count once.
        collector = start_collector(spool, tmp_path / "collector.log")
        traffic.url = collector.url  # the same spool, on another port
        try:
            traffic.send(600)
            traffic.replay(100)
        finally:
            collector.stop()
        second = job.execute_in_process(instance=instance)
        assert second.success
        check_marts(warehouse_db, traffic.truth)

        # nothing new: the drain reports no rows, dbt and the reports skip
        third = job.execute_in_process(instance=instance)
        built = {m.asset_key.to_user_string() for m in third.get_asset_materialization_events()}
        assert not any(k.startswith(("staging/", "marts/", "reports/")) for k in built), built

    # the lake holds every delivered copy; each acknowledged message is there
    (distinct,), = duckdb.sql(f"select count(distinct message_id) from read_parquet("
                              f"'{lake}/events/*/*.parquet', hive_partitioning = true)").fetchall()
    assert distinct == len(traffic.truth.events)
    assert (tmp_path / "reports" / "rpt_events__daily.csv").exists()


def check_marts(conn, truth) -> None:
    kept = {m for (m,) in query(conn, "select message_id from staging.stg_events__events")}
    assert kept == set(truth.events), "every acknowledged message once, nothing else"
    assert marts_per_day(conn) == truth.per_day()
    (hourly,), = query(conn, "select sum(events) from marts.rpt_events__hourly")
    assert hourly == len(truth.events)
    bad = Counter(dict(query(conn, "select reason, sum(bad_events) from marts.rpt_events__bad_events_daily "
                                   "group by 1")))
    assert bad == truth.bad_reasons
    # daily active actors, against the truth
    expected_dau = Counter()
    for day in {s.event_at.date() for s in truth.events.values()}:
        expected_dau[day] = len({s.actor_id for s in truth.events.values() if s.event_at.date() == day})
    dau = Counter(dict(query(conn, "select activity_date, daily_active_actors from "
                                   "marts.rpt_events__active_users where daily_active_actors > 0")))
    assert dau == expected_dau
    # weekly and monthly actors of every day, built incrementally, against the truth
    by_day = {}
    for sent in truth.events.values():
        by_day.setdefault(sent.event_at.date(), set()).add(sent.actor_id)
    for day, weekly, monthly in query(conn, "select activity_date, weekly_active_actors, "
                                            "monthly_active_actors from marts.rpt_events__active_users"):
        def window(days, day=day):
            return len(set().union(*(a for d, a in by_day.items() if 0 <= (day - d).days < days)))
        assert (weekly, monthly) == (window(7), window(30)), day
