"""When assets refresh: each source's load, then every model downstream of it."""

from __future__ import annotations

import os

import dagster as dg

from .ingestion import chicago_raw_assets

# Chicago crimes and everything built from them.
chicago_refresh = dg.define_asset_job(
    "chicago_refresh",
    selection=dg.AssetSelection.assets(chicago_raw_assets).downstream(),
    description="Load new and changed crimes, then rebuild the models that depend on them.",
)


def chicago_schedule() -> dg.ScheduleDefinition:
    # PULSE_CHICAGO_CRON changes the cadence; read when definitions load, not at import.
    return dg.ScheduleDefinition(
        job=chicago_refresh,
        cron_schedule=os.environ.get("PULSE_CHICAGO_CRON", "*/15 * * * *"),
        execution_timezone="America/Chicago",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
