"""The Kafka sink and the Kafka -> Postgres consumer, against a Kafka-protocol broker that
runs here (Tansu, memory only: sample_api/kafka_broker.py): every drained event reaches the
topic, and the consumer stores each once, even when the drain sends a segment again or the
consumer is SIGKILLed mid-stream, because its offsets commit with its rows."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from collector.spool import segment_paths
from pipelines.events import DrainSettings, drain
from pipelines.events.drain import read_batch
from pipelines.events.kafka import STREAM_DATASET, KafkaSettings, KafkaSink, consume
from pulse import roles
from sample_api.kafka_broker import start_broker
from tests.conftest import query
from tests.pipelines.test_events_drain import fresh_events, spool_events  # noqa: F401

PARTITIONS = 3


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with start_broker(tmp_path_factory.mktemp("kafka") / "broker.log") as running:
        yield running


@pytest.fixture
def kafka(broker, warehouse_db, request):
    """A topic of its own per test, and an empty stream table."""
    topic = f"pulse.events.{request.node.name[:40]}"
    broker.create_topic(topic, PARTITIONS)
    query(warehouse_db, f"drop schema if exists {STREAM_DATASET} cascade")
    return KafkaSettings(broker.bootstrap, topic)


def stream_counts(conn) -> tuple[int, int, int]:
    """(rows, distinct message ids, the offsets committed for the topic, summed)."""
    return query(conn, f"select (select count(*) from {STREAM_DATASET}.events), "
                       f"(select count(distinct message_id) from {STREAM_DATASET}.events), "
                       f"(select coalesce(sum(next_offset), 0) from {STREAM_DATASET}.kafka_offsets)"
                 )[0]


def test_every_drained_event_reaches_the_topic_and_the_consumer_stores_it_once(
        warehouse_db, fresh_events, kafka, tmp_path):  # noqa: F811
    good, _ = spool_events(tmp_path / "spool", 150, seed=7)
    batch, _ = read_batch(segment_paths(tmp_path / "spool"))
    result = drain(DrainSettings(tmp_path / "spool"), [fresh_events, KafkaSink(kafka)])
    assert result.events == good

    url = roles.url("loader", raw_dataset=STREAM_DATASET)
    consumed = consume(kafka, url, idle_seconds=2)
    assert (consumed.messages, consumed.stored) == (good, good)
    assert stream_counts(warehouse_db) == (good, good, good)
    # the same events, field for field, as the drain's own load into raw_events
    differences = query(warehouse_db, f"""
        select count(*) from (
            (select message_id, type, user_id, event_at, properties from raw_events.events
             except all
             select message_id, type, user_id, event_at, properties from {STREAM_DATASET}.events)
            union all
            (select message_id, type, user_id, event_at, properties from {STREAM_DATASET}.events
             except all
             select message_id, type, user_id, event_at, properties from raw_events.events)) as d
    """)[0][0]
    assert differences == 0
    assert query(warehouse_db, f"select count(distinct kafka_partition) from {STREAM_DATASET}.events"
                 )[0][0] == PARTITIONS

    # a drain killed after producing and before deleting its segments produces them again
    KafkaSink(kafka).write(batch)
    again = consume(kafka, url, idle_seconds=2)
    assert (again.messages, again.stored) == (good, 0)
    assert stream_counts(warehouse_db) == (good, good, 2 * good)


CONSUMER = """
import sys
from pipelines.events.kafka import KafkaSettings, consume
consume(KafkaSettings(sys.argv[1], sys.argv[2]), sys.argv[3], batch_messages=40, idle_seconds=None)
"""


def test_a_consumer_killed_mid_stream_loses_and_duplicates_nothing(warehouse_db, kafka, tmp_path):
    good, _ = spool_events(tmp_path / "spool", 400, seed=11)
    batch, _ = read_batch(segment_paths(tmp_path / "spool"))
    KafkaSink(kafka).write(batch)
    url = roles.url("loader", raw_dataset=STREAM_DATASET)

    kills = 0
    # the last stop leaves 4 batches unread: the kill lands before the consumer can finish
    for stop_at in (good // 5, 2 * good // 5, 3 * good // 5):
        process = subprocess.Popen([sys.executable, "-c", CONSUMER, kafka.bootstrap, kafka.topic,
                                    url])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if _rows(warehouse_db) >= stop_at:
                break
            time.sleep(0.005)
        process.kill()
        process.wait(timeout=30)
        kills += 1
        rows, distinct, offsets = stream_counts(warehouse_db)
        assert rows == distinct == offsets, "offsets and rows must commit together"
        assert stop_at <= rows < good
    rest = consume(kafka, url, idle_seconds=2)
    assert rest.stored == rest.messages > 0
    assert stream_counts(warehouse_db) == (good, good, good)
    assert kills == 3


def _rows(conn) -> int:
    exists = query(conn, f"select to_regclass('{STREAM_DATASET}.events') is not null")[0][0]
    return query(conn, f"select count(*) from {STREAM_DATASET}.events")[0][0] if exists else 0
