"""Events: the collector's spool drained into raw_events and the lake, then the event marts.

`events_drain` runs pipelines/events' drain (what `pulse load events` runs); the job
`events_refresh` is the drain and everything downstream of it (the event models and
their report files). The sensor `events_sensor` starts it when the spool holds enough:
PULSE_DRAIN_BATCH_EVENTS events (50) or an event older than PULSE_DRAIN_MAX_WAIT_SECONDS
(30 s). The check on rpt_events__ingestion_lag warns when events take too long to land.
"""


import functools
import os

import dagster as dg

from pipelines.events import DrainError, drain
from pipelines.events.drain import waiting_events
from pipelines.events.settings import configured_sinks, drain_settings, lake_url
from pulse.warehouse import Connection, query

from ..lib.dlt_load import UNCHANGED
from ..lib.keys import API_GROUP, raw_table_key
from ..lib.resources import WarehouseResource

RAW = "raw_events"
COLLECTOR_KEY = dg.AssetKey([API_GROUP, "events", "collector"])
LAG_MART = dg.AssetKey(["marts", "rpt_events__ingestion_lag"])


def collector_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        key=COLLECTOR_KEY, group_name=API_GROUP, kinds={"http"},
        description="Events clients push to `pulse collect` (Segment's HTTP API and /v1/event), "
        "fsynced to its spool before it answers (collector/, docs/events.md).")


@functools.cache
def events_drain() -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="events_drain",
        specs=[
            dg.AssetSpec(raw_table_key(RAW, "events"), deps=[COLLECTOR_KEY], group_name=RAW,
                         kinds={"dlt", "postgres"},
                         description="Every accepted event, as the collector stored it "
                         "(append only; staging keeps one row per message_id)."),
            dg.AssetSpec(raw_table_key(RAW, "bad_events"), deps=[COLLECTOR_KEY], group_name=RAW,
                         kinds={"dlt", "postgres"},
                         description="Events the collector refused, with the reason code and "
                         "the payload as sent; each drain reports its counts by reason."),
            dg.AssetSpec(raw_table_key(RAW, "drained_segments"), deps=[COLLECTOR_KEY],
                         group_name=RAW, kinds={"dlt", "postgres"},
                         description="One row per spool segment loaded: how the drain knows "
                         "a segment it is given again is in already."),
        ],
        pool="events_drain",
    )
    def events_drain_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Sealed spool segments -> raw_events (dlt) and the Parquet lake, each segment
        deleted once every sink has it."""
        settings = drain_settings()
        try:
            result = drain(settings, configured_sinks())
        except DrainError as err:  # the segments stay; the next run delivers them
            raise dg.Failure(str(err)) from err
        context.log.info("drained %d segments: %d events, %d bad events in %.1f s%s",
                         result.segments, result.events, result.bad_events, result.seconds,
                         f" ({result.skipped})" if result.skipped else "")
        common = {"segments": result.segments, "spool": str(settings.spool_dir),
                  "lake": lake_url() or "off", "seconds": round(result.seconds, 2)}
        yield dg.MaterializeResult(
            asset_key=raw_table_key(RAW, "events"),
            metadata={**common, "dagster/row_count_added": result.events,
                      **({UNCHANGED: True} if not result.events else {})})
        yield dg.MaterializeResult(
            asset_key=raw_table_key(RAW, "bad_events"),
            metadata={**common, "bad_events": result.bad_events,
                      **{f"reason/{r}": n for r, n in sorted(result.bad_reasons.items())},
                      **({UNCHANGED: True} if not result.bad_events else {})})
        yield dg.MaterializeResult(
            asset_key=raw_table_key(RAW, "drained_segments"),
            metadata={**common, **({UNCHANGED: True} if not result.segments else {})})

    return events_drain_asset


@functools.cache
def events_refresh_job():  # an unresolved asset job, resolved by Definitions
    from .schedules import downstream_of

    return dg.define_asset_job(
        "events_refresh",
        selection=downstream_of(events_drain()),
        description="Drain the collector's spool into raw_events and the lake, then rebuild "
        "the event models and reports.",
    )


@functools.cache
def events_sensor() -> dg.SensorDefinition:
    @dg.sensor(job=events_refresh_job(), minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED)
    def events_sensor(context: dg.SensorEvaluationContext):
        """Starts events_refresh when the spool holds a batch (PULSE_DRAIN_BATCH_EVENTS)
        or its oldest event has waited PULSE_DRAIN_MAX_WAIT_SECONDS."""
        settings = drain_settings()
        count, oldest = waiting_events(settings.spool_dir, stop_at=settings.batch_events)
        if count and (count >= settings.batch_events or oldest >= settings.max_wait_seconds):
            return dg.RunRequest(tags={"pulse/events_waiting": str(count)})
        return dg.SkipReason(f"{count} events waiting, the oldest {oldest:.0f} s")

    return events_sensor


def lag_limit_seconds() -> float:
    return float(os.environ.get("PULSE_EVENTS_LAG_P95_SECONDS", 120))


@functools.cache
def ingestion_lag_check() -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=LAG_MART, name="ingestion_lag_p95",
                    description="The newest hour's p95 seconds from the collector's "
                    "acknowledgement to the committed load is under PULSE_EVENTS_LAG_P95_SECONDS "
                    "(120 s).")
    def ingestion_lag_p95(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        rows = query(Connection.from_url(warehouse.url("transformer")),
                     "select received_hour, events, lag_p95_seconds from marts.rpt_events__ingestion_lag "
                     "order by received_hour desc limit 1")
        if not rows:
            return dg.AssetCheckResult(passed=True, metadata={"events": 0})
        hour, events, p95 = rows[0]
        limit = lag_limit_seconds()
        return dg.AssetCheckResult(
            passed=p95 is not None and p95 <= limit, severity=dg.AssetCheckSeverity.WARN,
            metadata={"received_hour": str(hour), "events": events,
                      "lag_p95_seconds": float(p95 or 0), "limit_seconds": limit})

    return ingestion_lag_p95

