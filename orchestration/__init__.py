"""Dagster only: the asset graph over pipelines/ (dlt) and dbt_project/ (dbt).

`definitions.py` builds the code location when Dagster asks for it; `lib/` holds what
every stage shares (asset keys, translators, the one load factory, resources); `defs/`
holds one module per stage of the data: ingest, geocode, dbt, reports, schedules, freshness.
"""
