"""The Pulse code location: merges the small modules in defs/."""

import dagster as dg

from .defs.dbt import dbt_models
from .defs.ingestion import CHICAGO_INGEST, api_dataset_specs
from .defs.reports import report_assets
from .defs.resources import resources
from .defs.schedules import chicago_refresh, dataset_jobs, dataset_schedules

jobs = dataset_jobs()

defs = dg.Definitions(
    assets=[*api_dataset_specs(), *CHICAGO_INGEST.values(), dbt_models, *report_assets],
    jobs=[chicago_refresh, *jobs.values()],
    schedules=dataset_schedules(jobs),
    resources=resources(),
)
