"""dlt sources for Pulse. Pure dlt: nothing here imports Dagster or orchestration."""
