"""The events section of the benchmark cannot rot: it runs for a few seconds here. No
timing is asserted (timings live in `make bench`): every run happened, the drains moved
what the throughput runs spooled, and the end-to-end loop saw every acknowledged event."""

import shutil

from bench import events
from tests.conftest import query


def test_events_section_runs_at_tiny_scale(warehouse_db, dbt_manifest):
    query(warehouse_db, "drop schema if exists raw_events cascade")
    query(warehouse_db, "drop table if exists staging.stg_events__events cascade")
    result = events.run_section(seconds=3, fill_seconds=2, rate=300)
    if shutil.which("wrk") and shutil.which("hey"):
        assert result["fixed_rate"]["requests_per_s"] > 0
        assert result["fixed_rate"]["responses"].get(200, 0) > 0
        for run in ("max_single", "batch_50", "batch_500"):
            assert result[run]["requests_per_s"] > 0 and result[run]["errors"] == 0, run
        assert result["drain_postgres"]["events"] == result["drain_lake"]["events"] > 0
        assert result["drain_postgres"]["peak_rss_mb"] > 0
    e2e = result["end_to_end"]
    assert e2e["events"] == e2e["acknowledged"] > 0
    assert e2e["p95_s"] > 0 and e2e["builds"] >= 1
    table = events.markdown(result)
    assert "| end to end at 1,000 events/s" in table
