"""The Pulse code location: merges the small modules in defs/."""

import dagster as dg

from .defs.countries import (
    COUNTRY_INGEST,
    countries_refresh,
    countries_schedule,
    country_api_specs,
    country_reports,
)
from .defs.dbt import dbt_models
from .defs.freshness import source_freshness, source_freshness_job, source_freshness_schedule
from .defs.geo import geocoded_points
from .defs.ingestion import CHICAGO_INGEST, api_dataset_specs
from .defs.reports import report_assets
from .defs.resources import resources
from .defs.schedules import chicago_refresh, dataset_jobs, dataset_schedules

jobs = dataset_jobs()

defs = dg.Definitions(
    assets=[*api_dataset_specs(), *country_api_specs(), *CHICAGO_INGEST.values(), *COUNTRY_INGEST,
            geocoded_points, dbt_models, *report_assets, country_reports],
    asset_checks=[source_freshness],
    jobs=[chicago_refresh, *jobs.values(), countries_refresh, source_freshness_job],
    schedules=[*dataset_schedules(jobs), countries_schedule, source_freshness_schedule],
    resources=resources(),
)
