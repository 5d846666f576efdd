"""What an operator's monitoring asks: is the warehouse up, is every source fresh enough,
does any dbt test fail, and the numbers behind them as Prometheus metrics.

Read as the transformer, which reads the raw tables (the analyst does not), in a
read-only transaction. Source freshness is dbt's own: each source's `loaded_at_field`
and thresholds from the manifest, the same that `dbt source freshness` and Dagster's
freshness checks use. Its max() reads the whole raw table, so a snapshot is kept for
CACHE_SECONDS: monitors poll /health and /metrics every few seconds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

CACHE_SECONDS = 30.0
PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
FAILING = ("fail", "error", "runtime error")


@dataclass(frozen=True)
class SourceFreshness:
    source: str  # schema.table
    last_load_at: dt.datetime | None
    warn_after_seconds: int | None
    error_after_seconds: int | None
    age_seconds: float | None

    @property
    def status(self) -> str:
        if self.age_seconds is None:
            return "never loaded"
        if self.error_after_seconds and self.age_seconds > self.error_after_seconds:
            return "stale"
        if self.warn_after_seconds and self.age_seconds > self.warn_after_seconds:
            return "warn"
        return "fresh"


@dataclass(frozen=True)
class FailingTest:
    name: str
    tested: str | None  # the model or seed it tests (its unique id)
    status: str
    failures: int | None
    message: str
    at: dt.datetime


@dataclass
class Snapshot:
    """One read of the warehouse's health, and the numbers /metrics exports."""

    taken_at: float
    reachable: bool
    error: str = ""
    sources: list[SourceFreshness] = field(default_factory=list)
    failing_tests: list[FailingTest] = field(default_factory=list)
    raw_rows: dict[str, int] = field(default_factory=dict)  # schema.table -> live rows
    reports_built_at: dict[str, dt.datetime] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return (self.reachable and not self.failing_tests
                and all(s.status in ("fresh", "warn") for s in self.sources))

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "warehouse": {"reachable": self.reachable, **({"error": self.error} if self.error else {})},
            "sources": [{"source": s.source, "status": s.status,
                         "last_load_at": s.last_load_at.isoformat() if s.last_load_at else None,
                         "age_seconds": round(s.age_seconds, 1) if s.age_seconds is not None else None,
                         "warn_after_seconds": s.warn_after_seconds,
                         "error_after_seconds": s.error_after_seconds} for s in self.sources],
            "failing_tests": [{"name": t.name, "tests": t.tested, "status": t.status,
                               "failures": t.failures, "message": t.message,
                               "at": t.at.isoformat()} for t in self.failing_tests],
            "checked_at": dt.datetime.fromtimestamp(self.taken_at, dt.UTC).isoformat(),
        }


def thresholds(freshness: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    """dbt's {'warn_after': {'count': 26, 'period': 'hour'}, ...} in seconds."""
    def seconds(level: str) -> int | None:
        rule = (freshness or {}).get(level) or {}
        if rule.get("count") and rule.get("period") in PERIOD_SECONDS:
            return int(rule["count"]) * PERIOD_SECONDS[rule["period"]]
        return None
    return seconds("warn_after"), seconds("error_after")


def fresh_sources(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The dbt sources with a freshness threshold, in a stable order."""
    return sorted((node for node in manifest.get("sources", {}).values()
                   if any(thresholds(node.get("freshness")))),
                  key=lambda node: (node["schema"], node["identifier"]))


def read_snapshot(conn: psycopg.Connection, manifest: Mapping[str, Any],
                  report_ids: Mapping[str, str]) -> Snapshot:
    """The warehouse's health now; `report_ids` maps report names to dbt unique ids."""
    snapshot = Snapshot(taken_at=time.time(), reachable=True)
    with conn.cursor() as cur:
        cur.execute("select now()")
        now = cur.fetchone()[0]
        for node in fresh_sources(manifest):
            warn, error = thresholds(node.get("freshness"))
            last = _last_load(cur, node)
            snapshot.sources.append(SourceFreshness(
                f"{node['schema']}.{node['identifier']}", last, warn, error,
                (now - last).total_seconds() if last else None))
        # Live rows as the statistics count them (every insert and delete, flushed at
        # commit): exact enough to watch, and no table scan.
        cur.execute("select schemaname || '.' || relname, n_live_tup from pg_stat_user_tables "
                    "where schemaname like 'raw\\_%' and schemaname not like '%\\_staging' "
                    "and relname not like '\\_dlt%'")
        snapshot.raw_rows = dict(cur.fetchall())
        if _has_results(cur):
            cur.execute("select name, tested_node, status, failures, coalesce(message, ''), "
                        "completed_at from ops.dbt_results where resource_type = 'test' "
                        "and status = any(%s) order by name", (list(FAILING),))
            snapshot.failing_tests = [FailingTest(*row) for row in cur.fetchall()]
            ids = {unique_id: name for name, unique_id in report_ids.items()}
            cur.execute("select unique_id, succeeded_at from ops.dbt_results "
                        "where unique_id = any(%s) and succeeded_at is not null", (list(ids),))
            snapshot.reports_built_at = {ids[uid]: at for uid, at in cur.fetchall()}
    return snapshot


def _last_load(cur: psycopg.Cursor, node: Mapping[str, Any]) -> dt.datetime | None:
    """dbt's freshness query: the newest `loaded_at_field` of the raw table (None when the
    table does not exist yet). The field is SQL from the project's own sources.yml."""
    cur.execute("select to_regclass(%s) is not null",
                (sql.Identifier(node["schema"], node["identifier"]).as_string(cur),))
    if not cur.fetchone()[0]:
        return None
    loaded_at = node.get("loaded_at_field") or "_dlt_load_id"
    cur.execute(sql.SQL("select max({}) from {}").format(
        sql.SQL(loaded_at), sql.Identifier(node["schema"], node["identifier"])))
    return cur.fetchone()[0]


def _has_results(cur: psycopg.Cursor) -> bool:
    cur.execute("select to_regclass('ops.dbt_results') is not null")
    return bool(cur.fetchone()[0])


class HealthCache:
    """The last snapshot, read again when older than CACHE_SECONDS (one reader at a time)."""

    def __init__(self, read: Callable[[], Snapshot], max_age: float = CACHE_SECONDS) -> None:
        self._read, self._max_age = read, max_age
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def get(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None or time.time() - self._snapshot.taken_at > self._max_age:
                try:
                    self._snapshot = self._read()
                except (psycopg.Error, OSError) as err:
                    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                    self._snapshot = Snapshot(taken_at=time.time(), reachable=False,
                                              error=first[:300])
            return self._snapshot


def metric_families(snapshot: Snapshot, requests: Mapping[tuple[str, str], int],
                    now: float | None = None) -> Iterable:
    """The Prometheus metrics of `snapshot` and of the API's requests (path, status)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    now = time.time() if now is None else now
    up = GaugeMetricFamily("pulse_warehouse_up", "1 when the warehouse answered the last check")
    up.add_metric([], 1.0 if snapshot.reachable else 0.0)
    yield up
    rows = GaugeMetricFamily("pulse_raw_rows", "Live rows in each raw table (PostgreSQL's "
                             "statistics, pg_stat_user_tables)", labels=["table"])
    rejects = GaugeMetricFamily("pulse_rejected_rows", "Rows set aside as rejects or bad "
                                "events, per table (PostgreSQL's statistics)", labels=["table"])
    for table, count in sorted(snapshot.raw_rows.items()):
        is_reject = table.endswith(("_rejects", ".bad_events"))
        (rejects if is_reject else rows).add_metric([table], float(count))
    yield rows
    yield rejects
    age = GaugeMetricFamily("pulse_last_load_age_seconds", "Seconds since the newest load of "
                            "each source with a freshness threshold", labels=["source"])
    stale = GaugeMetricFamily("pulse_source_stale", "1 when a source is past its error "
                              "threshold, or never loaded", labels=["source"])
    for source in snapshot.sources:
        if source.age_seconds is not None:
            age.add_metric([source.source], source.age_seconds)
        stale.add_metric([source.source], 1.0 if source.status in ("stale", "never loaded") else 0.0)
    yield age
    yield stale
    failing = GaugeMetricFamily("pulse_failing_tests", "dbt tests whose latest result failed "
                                "or errored")
    failing.add_metric([], float(len(snapshot.failing_tests)))
    yield failing
    refreshed = GaugeMetricFamily("pulse_report_refresh_age_seconds", "Seconds since dbt last "
                                  "built each report mart", labels=["report"])
    for report, at in sorted(snapshot.reports_built_at.items()):
        refreshed.add_metric([report], max(0.0, now - at.timestamp()))
    yield refreshed
    counted = CounterMetricFamily("pulse_api_requests", "Requests to pulse serve, by route "
                                  "and status", labels=["path", "status"])
    for (path, status), count in sorted(requests.items()):
        counted.add_metric([path, status], float(count))
    yield counted
