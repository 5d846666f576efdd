"""The Pulse code location: merges the small modules in defs/."""

import dagster as dg

from .defs.dbt import dbt_models
from .defs.freshness import source_freshness, source_freshness_job, source_freshness_schedule
from .defs.geo import geocoded_points
from .defs.ingestion import CHICAGO_INGEST, api_dataset_specs
from .defs.reports import report_assets
from .defs.resources import resources
from .defs.schedules import chicago_refresh, dataset_jobs, dataset_schedules

jobs = dataset_jobs()

defs = dg.Definitions(
    assets=[*api_dataset_specs(), *CHICAGO_INGEST.values(), geocoded_points, dbt_models, *report_assets],
    asset_checks=[source_freshness],
    jobs=[chicago_refresh, *jobs.values(), source_freshness_job],
    schedules=[*dataset_schedules(jobs), source_freshness_schedule],
    resources=resources(),
)
