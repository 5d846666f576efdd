"""The Pulse code location (workspace.yaml, `pulse dev`): built when Dagster loads it.

Importing this module does no work: the graph is assembled by `defs()`, whose parts are
cached factories in defs/ (the dbt manifest read once, each dlt source built once).
"""

import dagster as dg

from .defs import alerts, dbt, events, freshness, geocode, ingest, logs, reports, schedules
from .lib.catalog import with_catalog
from .lib.dbt_project import manifest
from .lib.keys import raw_table_key
from .lib.resources import resources


def materializable_assets() -> list[dg.AssetsDefinition]:
    """Every asset a run can build, in the data's order: what `make demo` materializes."""
    return [*ingest.chicago_ingest().values(), *ingest.country_ingest(), geocode.geocoded_points(),
            events.events_drain(), logs.loki_ingest(), logs.logs_lake(), logs.sitemaps_ingest(),
            dbt.dbt_models(),
            *reports.report_assets(), reports.country_reports()]


def catalogued(assets: list) -> list:
    """Every asset with its owner and `domain` tag, and each raw table with the description
    and columns its dbt source declares (orchestration/lib/catalog.py)."""
    sources = {raw_table_key(node["schema"], node["identifier"]): node
               for node in manifest()["sources"].values()}
    return dg.map_asset_specs(lambda spec: with_catalog(spec, sources), assets)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=catalogued([*ingest.api_specs(), events.collector_spec(), *logs.logs_api_specs(),
                           *materializable_assets()]),
        asset_checks=[freshness.freshness_checks(), events.ingestion_lag_check()],
        jobs=[*schedules.refresh_jobs(), events.events_refresh_job(), *logs.logs_jobs(),
              schedules.full_tests_job(), freshness.freshness_job()],
        schedules=[*schedules.refresh_schedules(), *logs.logs_schedules(),
                   schedules.full_tests_schedule(), freshness.freshness_schedule()],
        sensors=[events.events_sensor(), alerts.run_failure_alert()],
        resources=resources(),
    )
