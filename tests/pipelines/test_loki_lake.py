"""raw_logs.lines copied to the Parquet lake by hour: the lake holds exactly the
warehouse's lines (the overlap each load re-reads is not copied twice), a copy rewrites
only the hours new loads touched, and a copy cut short before its watermark is redone."""

from __future__ import annotations

import time

import duckdb

from pipelines.loki import load_loki
from pipelines.loki.lake import FOLDER, WATERMARK, copy_lines_to_lake
from sample_api.loki import LocalLoki, LogStore
from tests.conftest import query
from tests.pipelines.test_loki_source import QUERY, entries, raw_logs  # noqa: F401 (fixture)

HOUR_NS = 3600 * 10**9


def lake_lines(lake) -> list[tuple]:
    files = str(lake / FOLDER / "*" / "*" / "*.parquet")
    return duckdb.sql(f"select line_id, ts_ns, dt, hour from read_parquet('{files}', "
                      "hive_partitioning = true) order by ts_ns, line_id").fetchall()


def test_the_lake_holds_the_warehouses_lines_once_by_hour(raw_logs, tmp_path):  # noqa: F811
    start = (time.time_ns() // HOUR_NS - 5) * HOUR_NS  # five whole hours ago
    first = [e for hour in range(3) for e in entries(1000, start + hour * HOUR_NS, seed=hour)]
    with LocalLoki(store=LogStore(first)) as loki:
        args = {"base_url": loki.url, "query": QUERY, "backfill_hours": 6, "overlap_seconds": 600}
        load_loki(tmp_path / "dlt", **args)
        lake = tmp_path / "lake"
        copy = copy_lines_to_lake(str(lake), raw_logs)
        warehouse = query(raw_logs, "select line_id, ts_ns from raw_logs.lines order by ts_ns, line_id")
        assert [(i, t) for i, t, _, _ in lake_lines(lake)] == warehouse
        assert copy.lines == len(warehouse) == 3000
        for _, ts_ns, dt, hour in lake_lines(lake)[:50]:
            stamp = time.gmtime(ts_ns / 1e9)
            assert (str(dt), int(hour)) == (time.strftime("%Y-%m-%d", stamp), stamp.tm_hour)

        # new lines an hour later; the load re-reads its overlap, which must not double
        loki.store.push(entries(500, start + 4 * HOUR_NS, seed=5))
        load_loki(tmp_path / "dlt", **args)
        again = copy_lines_to_lake(str(lake), raw_logs)
        warehouse = query(raw_logs, "select line_id, ts_ns from raw_logs.lines order by ts_ns, line_id")
        assert [(i, t) for i, t, _, _ in lake_lines(lake)] == warehouse
        assert len(warehouse) == 3500
        assert (copy.hours, again.hours) == (3, 2)  # the new lines' hour and the overlap's

        # a copy that died before its watermark: the next copy writes the same again
        (lake / FOLDER / WATERMARK).unlink()
        redone = copy_lines_to_lake(str(lake), raw_logs)
        assert redone.lines == 3500
        assert [(i, t) for i, t, _, _ in lake_lines(lake)] == warehouse
        # nothing new: nothing rewritten
        assert copy_lines_to_lake(str(lake), raw_logs).hours == 0
