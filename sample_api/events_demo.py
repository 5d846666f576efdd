"""The demo's events: a real collector, simulated SDK traffic and the recorded payloads.

The write key is made up for each run and reaches only the collector's process: a demo
key in the code would be a secret in the code.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from collector.settings import spool_dir
from pulse.warehouse import PROJECT_ROOT, data_dir

from .collector_process import start_collector
from .traffic import TrafficGenerator, send_recorded

RECORDED = PROJECT_ROOT.parent / "shared" / "realdata" / "events"


def send_demo_events(events: int, seed: int) -> str:
    """Start `pulse collect`, send `events` simulated events and the recorded SDK payloads
    (when ../shared is there), stop it; returns what was sent, for the demo's log."""
    key = secrets.token_urlsafe(16)
    log = data_dir() / "logs" / "collector.log"
    with start_collector(spool_dir(), log, write_keys=f"{key}=demo") as collector:
        truth = TrafficGenerator(collector.url, key, seed=seed).send(events)
        recorded = send_recorded(collector.url, key, RECORDED) if RECORDED.is_dir() else 0
    return (f"{len(truth.events):,} events accepted ({sum(truth.bad_reasons.values()):,} refused "
            f"and kept as bad events, {truth.retried} requests retried) in {truth.requests:,} "
            f"requests" + (f", and {recorded} recorded SDK events" if recorded else ""))


def lake_counts(lake: Path) -> list[tuple]:
    """Rows per day in the lake's events, through DuckDB, as Athena would read it."""
    import duckdb

    files = str(Path(lake) / "events" / "*" / "*.parquet").replace("'", "''")
    return duckdb.sql(
        "select dt, count(*) as rows, count(distinct message_id) as messages "
        f"from read_parquet('{files}', hive_partitioning = true) group by dt order by dt"
    ).fetchall()
