"""Kafka, optional: the drain produces every event to a topic, and a consumer copies the topic
into Postgres `raw_events_stream.events` with its offsets in the same transaction.

The collector's spool is Pulse's write-ahead log, so Kafka is a fan-out for other real-time
consumers, not where events are kept: the marts read `raw_events` (the drain's own load).
The consumer is the Kafka -> database half of the real-time pipeline Pulse grew from, done
so that a kill at any point loses and duplicates nothing:

- the producer is idempotent with `acks=all`, so its own retries write each message once;
- a drain killed after producing and before deleting the segment produces it again, so
  each message carries its place in the spool (headers `pulse-segment` and
  `pulse-ordinal`) and the consumer's table is keyed by it: a segment sent twice is
  stored once;
- the consumer commits the rows and the next offset of each partition
  (`raw_events_stream.kafka_offsets`) in one Postgres transaction and starts from those
  offsets (`assign()`, no consumer group), so a consumer killed before its commit reads
  the same messages again and one killed after it does not.

Configuration: PULSE_KAFKA_BOOTSTRAP (host:port,...; unset = no Kafka), PULSE_KAFKA_TOPIC
(`pulse.events`), and PULSE_KAFKA_CONFIG_* for any other librdkafka setting
(`PULSE_KAFKA_CONFIG_SECURITY_PROTOCOL=SASL_SSL` becomes `security.protocol`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .sinks import EVENT_SCHEMA, Batch

STREAM_DATASET = "raw_events_stream"
SEGMENT_HEADER, ORDINAL_HEADER = "pulse-segment", "pulse-ordinal"
_EVENT_COLUMNS = [f.name for f in EVENT_SCHEMA if f.name != "segment"]


class KafkaError(RuntimeError):
    pass


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str = "pulse.events"
    extra: tuple[tuple[str, str], ...] = ()  # other librdkafka settings

    def client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap, **dict(self.extra)}


def kafka_settings() -> KafkaSettings | None:
    """From the environment; None when PULSE_KAFKA_BOOTSTRAP is unset."""
    bootstrap = os.environ.get("PULSE_KAFKA_BOOTSTRAP", "").strip()
    if not bootstrap:
        return None
    prefix = "PULSE_KAFKA_CONFIG_"
    extra = tuple(sorted((name[len(prefix):].lower().replace("_", "."), value)
                         for name, value in os.environ.items() if name.startswith(prefix)))
    return KafkaSettings(bootstrap, os.environ.get("PULSE_KAFKA_TOPIC", "pulse.events"), extra)


class KafkaSink:
    """Every event of a batch to the topic, keyed by message_id (one user's retries land
    in one partition), acknowledged by all in-sync replicas before the drain goes on."""

    name = "kafka"

    def __init__(self, settings: KafkaSettings, flush_timeout_seconds: float = 60.0):
        from confluent_kafka import Producer

        self.settings = settings
        self.flush_timeout = flush_timeout_seconds
        self.producer = Producer({**settings.client_config(), "enable.idempotence": True,
                                  "acks": "all", "linger.ms": 20})

    def write(self, batch: Batch) -> None:
        failures: list[str] = []

        def delivered(err, _message) -> None:
            if err is not None:
                failures.append(str(err))

        rows = batch.events.select(_EVENT_COLUMNS).to_pylist()
        segments = batch.events["segment"].to_pylist()
        ordinal, previous = 0, None
        for row, segment in zip(rows, segments, strict=True):
            # a segment's events are contiguous and always read in the same order
            ordinal = ordinal + 1 if segment == previous else 0
            previous = segment
            headers = [(SEGMENT_HEADER, segment.encode()), (ORDINAL_HEADER, str(ordinal).encode())]
            self._produce(orjson.dumps(row), row["message_id"].encode(), headers, delivered)
        left = self.producer.flush(self.flush_timeout)
        if left or failures:
            raise KafkaError(
                f"Kafka at {self.settings.bootstrap} did not acknowledge "
                f"{left + len(failures):,} of {len(rows):,} events for topic "
                f"{self.settings.topic!r}" + (f": {failures[0]}" if failures else
                                               f" within {self.flush_timeout:.0f} s"))

    def _produce(self, value: bytes, key: bytes, headers, delivered) -> None:
        while True:
            try:
                self.producer.produce(self.settings.topic, value=value, key=key, headers=headers,
                                      on_delivery=delivered)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.1)


# -- the consumer: Kafka -> Postgres, offsets committed with the rows ------------------------

_DDL = f"""
create table if not exists {STREAM_DATASET}.events (
    segment text not null,
    ordinal integer not null,
    message_id text not null,
    source text, type text, event text, event_type_id smallint, user_id text,
    anonymous_id text, group_id text, previous_id text,
    "timestamp" timestamptz, sent_at timestamptz, received_at timestamptz, event_at timestamptz,
    properties text, traits text, context text, payload text,
    kafka_partition integer not null,
    kafka_offset bigint not null,
    consumed_at timestamptz not null default now(),
    primary key (segment, ordinal)
);
create table if not exists {STREAM_DATASET}.kafka_offsets (
    topic text not null,
    kafka_partition integer not null,
    next_offset bigint not null,
    updated_at timestamptz not null default now(),
    primary key (topic, kafka_partition)
);
"""
_COLUMNS = ["segment", "ordinal", *_EVENT_COLUMNS, "kafka_partition", "kafka_offset"]
_QUOTED = ", ".join(f'"{c}"' for c in _COLUMNS)  # "timestamp" is a keyword
_COPY = f"copy incoming ({_QUOTED}) from stdin"


@dataclass
class ConsumeResult:
    messages: int = 0
    stored: int = 0  # new rows; the rest were a segment the drain produced again
    transactions: int = 0
    seconds: float = 0.0


def consume(settings: KafkaSettings, database_url: str, *, batch_messages: int = 5000,
            idle_seconds: float = 5.0, max_messages: int | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> ConsumeResult:
    """Copy the topic into raw_events_stream.events until no message came for
    `idle_seconds` (None: until `should_stop()`), `batch_messages` per transaction."""
    import psycopg
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    started = time.perf_counter()
    result = ConsumeResult()
    consumer = Consumer({**settings.client_config(), "group.id": "pulse-events-stream",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        # autocommit: each conn.transaction() below is a real transaction, not a savepoint
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(_DDL)
            partitions = _partitions(consumer, settings)
            stored = dict(conn.execute(
                f"select kafka_partition, next_offset from {STREAM_DATASET}.kafka_offsets "
                "where topic = %s", (settings.topic,)).fetchall())
            consumer.assign([TopicPartition(settings.topic, p, stored.get(p, OFFSET_BEGINNING))
                             for p in partitions])
            last_message = time.monotonic()
            while not should_stop():
                if max_messages is not None and result.messages >= max_messages:
                    break
                want = batch_messages if max_messages is None else min(
                    batch_messages, max_messages - result.messages)
                messages = [m for m in consumer.consume(want, timeout=0.5) if _ok(m)]
                if not messages:
                    if idle_seconds is not None and time.monotonic() - last_message > idle_seconds:
                        break
                    continue
                last_message = time.monotonic()
                result.stored += _store(conn, settings.topic, messages)
                result.messages += len(messages)
                result.transactions += 1
    finally:
        consumer.close()
    result.seconds = time.perf_counter() - started
    return result


def _partitions(consumer, settings: KafkaSettings) -> list[int]:
    metadata = consumer.list_topics(settings.topic, timeout=30)
    topic = metadata.topics.get(settings.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        reason = topic.error if topic is not None and topic.error else "it has no partitions"
        raise KafkaError(f"cannot read topic {settings.topic!r} at {settings.bootstrap}: {reason}. "
                         "The drain creates it on its first batch when the broker allows it; "
                         "otherwise create it (docs/events.md#kafka)")
    return sorted(topic.partitions)


def _ok(message) -> bool:
    from confluent_kafka import KafkaError as ClientError

    err = message.error()
    if err is None:
        return True
    if err.code() == ClientError._PARTITION_EOF:
        return False
    raise KafkaError(f"reading {message.topic()} partition {message.partition()}: {err}")


def _store(conn, topic: str, messages: list) -> int:
    """Rows and next offsets in one transaction; rows already stored (a segment the drain
    produced again) are skipped by their (segment, ordinal) key."""
    next_offsets: dict[int, int] = {}
    with conn.transaction():
        conn.execute(f"create temporary table incoming (like {STREAM_DATASET}.events "
                     "including defaults) on commit drop")
        with conn.cursor().copy(_COPY) as copy:
            for message in messages:
                copy.write_row(_row(message))
                next_offsets[message.partition()] = message.offset() + 1
        cursor = conn.execute(f"insert into {STREAM_DATASET}.events select * from incoming "
                              "on conflict (segment, ordinal) do nothing")
        stored = cursor.rowcount
        for partition, offset in next_offsets.items():
            conn.execute(
                f"insert into {STREAM_DATASET}.kafka_offsets (topic, kafka_partition, next_offset) "
                "values (%s, %s, %s) on conflict (topic, kafka_partition) do update "
                "set next_offset = excluded.next_offset, updated_at = now()",
                (topic, partition, offset))
    return stored


def _row(message) -> list:
    headers = dict(message.headers() or [])
    try:
        segment = headers[SEGMENT_HEADER].decode()
        ordinal = int(headers[ORDINAL_HEADER])
        event = orjson.loads(message.value())
    except (KeyError, ValueError, TypeError) as err:
        raise KafkaError(
            f"message at {message.topic()} partition {message.partition()} offset "
            f"{message.offset()} is not a Pulse event ({err!r}): only the drain may produce "
            "to this topic") from err
    return [segment, ordinal, *(event.get(c) for c in _EVENT_COLUMNS),
            message.partition(), message.offset()]
