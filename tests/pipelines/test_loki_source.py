"""The `loki` source against the local Loki (sample_api/loki.py) over real HTTP: lines that
share a timestamp across page boundaries are loaded once, a refresh reads only new lines
and merges its overlap, and Loki's errors end a run clearly with nothing moved."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipelines.loki import LokiError, load_loki, page_rows
from sample_api.loki import Entry, LocalLoki, LogStore
from tests.conftest import query

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "loki"
T0 = 1_796_300_000_000_000_000  # 2026-12-02, in nanoseconds
QUERY = '{job="nginx"}'


def entries(count: int, start_ns: int, seed: int = 0, same_stamp: int = 7) -> list[Entry]:
    """`count` access-log lines in two nginx streams and one other job; runs of up to
    `same_stamp` lines share a nanosecond timestamp."""
    rng = random.Random(seed)
    out, ts = [], start_ns
    while len(out) < count:
        ts += rng.randrange(1, 5_000_000)
        for _ in range(rng.randrange(1, same_stamp + 1)):
            host = rng.choice(["web-1", "web-2"])
            out.append(Entry(ts, f'10.0.{rng.randrange(256)}.{rng.randrange(256)} - - '
                                 f'"GET /p/{rng.randrange(10**6)} HTTP/1.1" 200 {rng.randrange(9999)}',
                             (("host", host), ("job", "nginx"))))
    return out[:count]


@pytest.fixture
def raw_logs(warehouse_db):
    query(warehouse_db, "drop schema if exists raw_logs cascade")
    query(warehouse_db, "drop schema if exists raw_logs_staging cascade")
    return warehouse_db


def loaded(conn) -> set[tuple[int, str]]:
    return {(ts, line) for ts, line in query(conn, "select ts_ns, line from raw_logs.lines")}


def load(loki: LocalLoki, tmp_path: Path, **kwargs):
    args = {"base_url": loki.url, "query": QUERY, "limit": 100, "backfill_hours": 24 * 30,
            "overlap_seconds": 60, "max_attempts": 3, "backoff_factor": 0.01, **kwargs}
    return load_loki(tmp_path / "dlt", **args)


def test_lines_sharing_a_timestamp_across_pages_are_loaded_once(raw_logs, tmp_path):
    truth = entries(3_000, T0)
    other = [Entry(T0 + 10, "not nginx", (("job", "syslog"),))]
    with LocalLoki(LogStore(truth + other)) as loki:
        load(loki, tmp_path)
        pages = len(loki.faults.requests)
    assert loaded(raw_logs) == {(e.ts_ns, e.line) for e in truth}
    (rows, ids), = query(raw_logs, "select count(*), count(distinct line_id) from raw_logs.lines")
    assert rows == ids == 3_000
    assert pages >= 30  # a page of 100 at a time, each boundary inside a run of one timestamp
    labels = query(raw_logs, "select distinct labels from raw_logs.lines order by 1")
    assert [json.loads(label) for (label,) in labels] == [{"host": "web-1", "job": "nginx"},
                                                          {"host": "web-2", "job": "nginx"}]


def test_a_refresh_reads_only_new_lines_and_its_overlap_merges(raw_logs, tmp_path):
    first = entries(1_000, T0, seed=1)
    with LocalLoki(LogStore(first)) as loki:
        load(loki, tmp_path)
        newest = max(e.ts_ns for e in first)
        late = [Entry(newest - 10**9, "a line Loki took late, inside the overlap",
                      (("host", "web-1"), ("job", "nginx")))]
        later = entries(500, newest, seed=2)
        loki.store.push(late + later)
        loki.faults.requests.clear()
        load(loki, tmp_path)
        starts = [int(r["start"]) for r in loki.faults.requests]
    assert loaded(raw_logs) == {(e.ts_ns, e.line) for e in first + late + later}
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 1_501
    assert min(starts) == newest - 60 * 10**9  # the overlap, not the backfill window


@pytest.mark.parametrize("fault, message", [
    ({"query": "nginx"}, "fix the LogQL stream selector"),
    ({"limit": 200, "server_max": 150}, "max_entries_limit_per_query"),
    ({"server_error": 99}, "answered 500 after every retry"),
])
def test_a_loki_error_ends_the_run_clearly_and_moves_nothing(raw_logs, tmp_path, fault, message):
    truth = entries(400, T0, seed=3)
    with LocalLoki(LogStore(truth)) as loki:
        load(loki, tmp_path, limit=50)
        loki.store.push(entries(100, max(e.ts_ns for e in truth), seed=4))
        loki.max_entries_limit = fault.pop("server_max", 5000)
        loki.faults.server_error = fault.pop("server_error", 0)
        with pytest.raises(LokiError, match=message) as err:
            load(loki, tmp_path, **fault)
        assert loki.url in str(err.value)
        assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 400
        loki.faults.server_error = 0
        load(loki, tmp_path)  # the next good run loads what the failed one did not
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 500


def test_rate_limits_are_retried_and_credentials_never_appear_in_errors(raw_logs, tmp_path):
    truth = entries(300, T0, seed=5)
    with LocalLoki(LogStore(truth), auth="reader:s3cret", tenants=("team-a",)) as loki:
        loki.store.push(truth, tenant="team-a")
        with pytest.raises(LokiError, match="credentials") as err:
            load(loki, tmp_path, base_url=loki.url.replace("http://", "http://reader:wrong@"),
                 tenant_id="team-a")
        assert "wrong" not in str(err.value)
        loki.faults.rate_limit = 2
        load(loki, tmp_path, base_url=loki.url.replace("http://", "http://reader:s3cret@"),
             tenant_id="team-a")
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 300


def test_more_lines_on_one_nanosecond_than_a_page_holds_stop_the_run(raw_logs, tmp_path):
    crowd = [Entry(T0 + 5, f"line {i}", (("job", "nginx"),)) for i in range(150)]
    with LocalLoki(LogStore(crowd)) as loki, pytest.raises(LokiError, match="Raise SOURCES__LOKI__LIMIT"):
        load(loki, tmp_path)


def test_recorded_loki_answers_read_as_rows():
    recorded = json.loads((REALDATA / "query_range_streams_otel-k8s-java-dice_2024-09-19__grafana-"
                                      "oats.json").read_text())
    rows = page_rows(recorded["data"]["result"])
    assert len(rows) == 24 and len({r[0] for r in rows}) == 24
    assert all(1_726_747_900 * 10**9 < ts < 1_726_748_000 * 10**9 for _, ts, _, _ in rows)
    empty = json.loads((REALDATA / "query_range_streams_empty-result-with-stats__cloudogu-k8s-"
                                   "support-archive-operator.json").read_text())
    assert page_rows(empty["data"]["result"]) == []
