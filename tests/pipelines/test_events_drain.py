"""The drain moves spooled events into raw_events and the Parquet lake (a folder, or an
S3-compatible server: moto's, on 127.0.0.1), deletes a segment only once every sink has it,
and never loads a segment twice."""

from __future__ import annotations

import json
import random
import socket
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow.dataset as ds
import pytest

from collector.events import split_request
from collector.spool import Spool, segment_paths
from pipelines.events import DrainError, DrainSettings, LakeSink, PostgresSink, drain
from pipelines.events.drain import read_batch
from pipelines.events.sinks import lake_filesystem
from tests.conftest import query


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spool_events(folder, requests: int, seed: int = 0) -> tuple[int, int]:
    """`requests` batches of 1-20 Segment calls (about 1 in 10 invalid), spooled as the
    collector does and sealed; returns (valid, bad) counts."""
    rng = random.Random(seed)
    good = bad = 0
    received = datetime(2026, 12, 1, 23, 50, tzinfo=UTC)
    with Spool(folder, segment_bytes=20_000) as spool:
        for number in range(requests):
            calls = [{"type": "track", "userId": f"u{rng.randrange(50)}", "event": "Viewed",
                      "messageId": f"m-{seed}-{number}-{i}",
                      "timestamp": (received - timedelta(minutes=rng.randrange(30))).isoformat(),
                      "properties": {"n": i}}
                     if rng.random() > 0.1 else {"type": "track", "event": "No user"}
                     for i in range(rng.randrange(1, 21))]
            events, bad_events = split_request(None, {"batch": calls}, source="web",
                                               received_at=received)
            spool.append_sync(json.dumps({"events": events, "bad": bad_events}).encode())
            good, bad = good + len(events), bad + len(bad_events)
    return good, bad


@pytest.fixture
def fresh_events(warehouse_db, tmp_path):
    query(warehouse_db, "drop schema if exists raw_events cascade")
    return PostgresSink(pipelines_dir=tmp_path / "dlt")


def raw_counts(conn) -> tuple[int, int, int]:
    return query(conn, "select (select count(*) from raw_events.events), "
                       "(select count(*) from raw_events.bad_events), "
                       "(select count(distinct message_id) from raw_events.events)")[0]


def test_the_drain_delivers_every_event_to_postgres_and_the_lake_then_deletes_it(
        warehouse_db, fresh_events, tmp_path):
    good, bad = spool_events(tmp_path / "spool", 200)
    lake = tmp_path / "lake"
    result = drain(DrainSettings(tmp_path / "spool"), [fresh_events, LakeSink(str(lake))])
    assert (result.events, result.bad_events) == (good, bad)
    assert segment_paths(tmp_path / "spool") == []
    assert raw_counts(warehouse_db) == (good, bad, good)

    # the lake: Hive partitions by event date, read by DuckDB as Athena would
    dates = sorted(p.name for p in (lake / "events").iterdir())
    assert dates == ["dt=2026-12-01"]
    (rows, users), = duckdb.sql(
        f"select count(*), count(distinct user_id) from read_parquet('{lake}/events/*/*.parquet', "
        "hive_partitioning = true) where dt = '2026-12-01'").fetchall()
    assert rows == good and users > 10
    (bad_rows,), = duckdb.sql(
        f"select count(*) from read_parquet('{lake}/bad_events/*/*.parquet')").fetchall()
    assert bad_rows == bad


def test_a_batch_delivered_again_after_a_kill_is_not_loaded_twice(warehouse_db, fresh_events,
                                                                 tmp_path):
    good, _ = spool_events(tmp_path / "spool", 50)
    batch, _ = read_batch(segment_paths(tmp_path / "spool"))
    lake = LakeSink(str(tmp_path / "lake"))
    for _ in range(2):  # the second time is a drain that was killed before its deletes
        fresh_events.write(batch)
        lake.write(batch)
    assert raw_counts(warehouse_db)[0] == good
    files = list((tmp_path / "lake").rglob("*.parquet"))
    assert ds.dataset(files, format="parquet").count_rows() == good + batch.bad_events.num_rows


def test_the_lake_on_an_s3_compatible_server_and_a_sink_down_keeps_the_segments(
        warehouse_db, fresh_events, tmp_path, monkeypatch):
    import boto3

    port = free_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("PULSE_LAKE_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    good, bad = spool_events(tmp_path / "spool", 60)
    settings = DrainSettings(tmp_path / "spool", retries=1, backoff_seconds=0.01)

    # nothing listens there yet: the lake sink fails, every segment stays
    with pytest.raises(DrainError, match="lake sink failed 2 times"):
        drain(settings, [fresh_events, LakeSink("s3://pulse-lake/events-test")])
    assert segment_paths(tmp_path / "spool")

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                     region_name="us-east-1").create_bucket(Bucket="pulse-lake")
        result = drain(settings, [fresh_events, LakeSink("s3://pulse-lake/events-test")])
        assert segment_paths(tmp_path / "spool") == []
        fs, root = lake_filesystem("s3://pulse-lake/events-test")
        lake = ds.dataset(f"{root}/events", filesystem=fs, format="parquet", partitioning="hive")
        assert lake.count_rows() == good
    finally:
        server.stop()
    # Postgres had the first attempt's segments already: loaded once, not twice
    assert result.events == good
    assert raw_counts(warehouse_db) == (good, bad, good)


def test_a_batch_without_bad_events_or_without_events_loads(warehouse_db, fresh_events, tmp_path):
    """A table with no rows is not handed to dlt: ADBC cannot COPY an empty Parquet file,
    and the load package would fail on every retry."""
    from collector.spool import Spool

    with Spool(tmp_path / "spool") as spool:
        events, _ = split_request("track", {"userId": "u", "event": "Only good"}, source="web")
        spool.append_sync(json.dumps({"events": events, "bad": []}).encode())
        spool.seal_now()
        _, bad = split_request("track", {"event": "Only bad"}, source="web")
        spool.append_sync(json.dumps({"events": [], "bad": bad}).encode())
    for max_segments in (1, None):  # a batch with no bad events, then one with no events
        drain(DrainSettings(tmp_path / "spool"), [fresh_events], max_segments=max_segments)
        assert not fresh_events.pipeline.has_pending_data
    assert raw_counts(warehouse_db) == (1, 1, 1)
