"""Which sinks the drain feeds, from the environment.

- Postgres `raw_events`: always (the warehouse is the state of record).
- The Parquet lake: `PULSE_LAKE_URL`, a folder or `s3://bucket/prefix` (the endpoint and
  keys of an S3-compatible store: PULSE_LAKE_S3_ENDPOINT, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY); default `lake/` in the warehouse folder; `none` turns it off.
- Kafka: PULSE_KAFKA_BOOTSTRAP (and PULSE_KAFKA_TOPIC, PULSE_KAFKA_CONFIG_*), see kafka.py.
- Batching: PULSE_DRAIN_BATCH_EVENTS (50) and PULSE_DRAIN_MAX_WAIT_SECONDS (30) say when
  the Dagster sensor starts a drain; PULSE_DRAIN_RETRIES (3) how often a sink is retried.
"""

from __future__ import annotations

import os

from collector.settings import spool_dir
from pulse.warehouse import data_dir

from .drain import DrainSettings
from .kafka import kafka_settings
from .sinks import LakeSink, PostgresSink


def lake_url() -> str | None:
    url = os.environ.get("PULSE_LAKE_URL", str(data_dir() / "lake"))
    return None if url.lower() == "none" else url


def drain_settings() -> DrainSettings:
    return DrainSettings(
        spool_dir=spool_dir(),
        batch_events=int(os.environ.get("PULSE_DRAIN_BATCH_EVENTS", 50)),
        max_wait_seconds=float(os.environ.get("PULSE_DRAIN_MAX_WAIT_SECONDS", 30)),
        retries=int(os.environ.get("PULSE_DRAIN_RETRIES", 3)),
    )


def configured_sinks(pipelines_dir=None) -> list:
    sinks: list = [PostgresSink(pipelines_dir)]
    if url := lake_url():
        sinks.append(LakeSink(url))
    if kafka := kafka_settings():
        from .kafka import KafkaSink  # confluent-kafka loads only when Kafka is configured

        sinks.append(KafkaSink(kafka))
    return sinks
