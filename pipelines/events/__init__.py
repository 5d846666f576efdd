"""Events: the drain from the collector's spool (collector/) to Postgres `raw_events`, the
Parquet lake and, optionally, Kafka. docs/events.md tells the whole path."""

from .drain import DrainError, DrainResult, DrainSettings, drain, waiting_events
from .sinks import LakeSink, PostgresSink

__all__ = ["DrainError", "DrainResult", "DrainSettings", "LakeSink", "PostgresSink", "drain",
           "waiting_events"]
