"""The Pulse code location: merges the small modules in defs/."""

import dagster as dg

from .defs.dbt import dbt_models
from .defs.ingestion import api_dataset_specs, chicago_raw_assets
from .defs.resources import resources
from .defs.schedules import chicago_refresh, chicago_schedule

defs = dg.Definitions(
    assets=[*api_dataset_specs(), chicago_raw_assets, dbt_models],
    jobs=[chicago_refresh],
    schedules=[chicago_schedule()],
    resources=resources(),
)
