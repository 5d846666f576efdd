"""When assets refresh: each Chicago dataset on its own cadence, the countries daily, and
in every job everything downstream of the loads it runs; and every dbt test over whole
tables daily (the refreshes test only the rows they bring).

Every schedule starts STOPPED: the default base URLs are the live APIs, which a machine
without internet cannot reach. Turn them on in the UI (Automation) or with
`dagster schedule start`.
"""

from __future__ import annotations

import functools
import os

import dagster as dg

from pipelines.chicago.settings import load_datasets

from .dbt import TESTS_SINCE_TAG, dbt_models
from .freshness import freshness_checks
from .ingest import chicago_ingest, country_ingest

# What the UI shows beside each schedule: why it is off, and how to turn it on.
STARTS_STOPPED = ("Starts stopped: the sources default to the live APIs, which a machine "
                  "without internet cannot reach. Turn it on here once they can be, or run "
                  "`pulse dev --local-apis` to point them at the local ones.")


def downstream_of(*loads: dg.AssetsDefinition) -> dg.AssetSelection:
    """The loads and everything downstream, with the checks of those assets but dbt's source
    freshness: that is about the clock, not the refresh, and runs hourly on its own
    (`chicago_source_freshness`); in a refresh it would start dbt even when nothing changed."""
    return dg.AssetSelection.assets(*loads).downstream() - dg.AssetSelection.checks(freshness_checks())


@functools.cache
def refresh_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """`chicago_refresh` (every dataset), `chicago_<name>_refresh` (one dataset) and
    `countries_refresh`: the loads, then every model and report downstream of them."""
    chicago = chicago_ingest()
    jobs = [dg.define_asset_job(
        "chicago_refresh",
        selection=downstream_of(*chicago.values()),
        description="Load new and changed rows of every Chicago dataset, then rebuild the "
        "models and reports that depend on them.",
    )]
    jobs += [
        dg.define_asset_job(
            f"chicago_{name}_refresh",
            selection=downstream_of(ingest),
            description=f"Load {name}, then rebuild the models and reports that depend on it.",
        )
        for name, ingest in chicago.items()
    ]
    jobs.append(dg.define_asset_job(
        "countries_refresh",
        selection=downstream_of(*country_ingest()),
        description="Load what the World Bank and the OECD changed, then rebuild the country "
        "models and reports that depend on it.",
    ))
    return jobs


@functools.cache
def refresh_schedules() -> list[dg.ScheduleDefinition]:
    """Each Chicago dataset on the cron of datasets.yml (or PULSE_SCHEDULE_<NAME>); the
    countries daily at 06:00 UTC (or PULSE_SCHEDULE_COUNTRIES): both providers publish at
    most once a day."""
    jobs = {job.name: job for job in refresh_jobs()}
    schedules = [
        dg.ScheduleDefinition(
            name=f"chicago_{name}_schedule",
            job=jobs[f"chicago_{name}_refresh"],
            cron_schedule=dataset.schedule_cron,
            execution_timezone="America/Chicago",
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=f"Refreshes {name} on its cadence (datasets.yml). {STARTS_STOPPED}",
        )
        for name, dataset in load_datasets().items()
    ]
    schedules.append(dg.ScheduleDefinition(
        name="countries_daily",
        job=jobs["countries_refresh"],
        cron_schedule=os.environ.get("PULSE_SCHEDULE_COUNTRIES", "0 6 * * *"),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Refreshes the World Bank and OECD data daily. {STARTS_STOPPED}",
    ))
    return schedules


@functools.cache
def full_tests_job() -> dg.UnresolvedAssetJobDefinition:
    """`dbt_daily_tests`: every dbt data test, over whole tables. The refreshes test only
    the rows the marts have not counted yet (dbt_project/macros/tests_since.sql)."""
    return dg.define_asset_job(
        "dbt_daily_tests",
        selection=dg.AssetSelection.checks(dbt_models()),
        tags={TESTS_SINCE_TAG: "everything"},
        description="Every dbt data test over whole tables, without building anything: the "
        "refreshes test only the rows the marts have not counted yet.",
    )


@functools.cache
def full_tests_schedule() -> dg.ScheduleDefinition:
    """`dbt_daily_tests` at 04:30 Chicago time (PULSE_SCHEDULE_FULL_TESTS overrides it)."""
    return dg.ScheduleDefinition(
        name="dbt_daily_tests_schedule",
        job=full_tests_job(),
        cron_schedule=os.environ.get("PULSE_SCHEDULE_FULL_TESTS", "30 4 * * *"),
        execution_timezone="America/Chicago",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Runs every dbt test over whole tables daily. Starts stopped with the "
        "refresh schedules it checks; turn it on with them.",
    )
