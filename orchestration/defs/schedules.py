"""When assets refresh: each dataset on its own cadence, then every model downstream of it."""

from __future__ import annotations

import dagster as dg

from pipelines.chicago.settings import load_datasets

from .ingestion import CHICAGO_INGEST

# Everything: every Chicago dataset and all that is built from them.
chicago_refresh = dg.define_asset_job(
    "chicago_refresh",
    selection=dg.AssetSelection.assets(*CHICAGO_INGEST.values()).downstream(),
    description="Load new and changed rows of every Chicago dataset, then rebuild the models "
    "and reports that depend on them.",
)


def dataset_jobs() -> dict[str, dg.UnresolvedAssetJobDefinition]:
    """`chicago_<name>_refresh`: one dataset's load and everything downstream of it."""
    return {
        name: dg.define_asset_job(
            f"chicago_{name}_refresh",
            selection=dg.AssetSelection.assets(ingest).downstream(),
            description=f"Load {name}, then rebuild the models and reports that depend on it.",
        )
        for name, ingest in CHICAGO_INGEST.items()
    }


def dataset_schedules(jobs: dict[str, dg.UnresolvedAssetJobDefinition]) -> list[dg.ScheduleDefinition]:
    """Each dataset on the cron of datasets.yml, or of PULSE_SCHEDULE_<NAME> when set.

    They start STOPPED: the default base_url is the live portal, which a machine without
    internet cannot reach. Turn them on in the UI (Automation) or with `dagster schedule start`.
    """
    datasets = load_datasets()
    return [
        dg.ScheduleDefinition(
            name=f"chicago_{name}_schedule",
            job=job,
            cron_schedule=datasets[name].schedule_cron,
            execution_timezone="America/Chicago",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        )
        for name, job in jobs.items()
    ]
