"""Stage 1, ingest: each API dataset -> its raw table, one dlt load per dataset or provider.

Chicago: one load per dataset of pipelines/chicago/datasets.yml, so schedules of
different cadences never share local dlt state and one failing dataset holds up no
other. Countries: one World Bank load (every indicator) and one per OECD dataflow.
"""

import functools

import dagster as dg

from pipelines import chicago, oecd, worldbank
from pipelines.chicago.settings import PORTAL_URL, load_datasets
from pipelines.oecd.settings import load_dataflows

from ..lib.dlt_load import dlt_load_asset
from ..lib.keys import API_GROUP, api_dataset_key

WORLDBANK_RESOURCES = {
    "countries": "Economies with their region and income level (/v2/country), aggregates marked",
    "indicators": "The declared indicators' names and last update dates",
    "indicator_values": "Every declared indicator for every economy and year "
    "(/v2/country/all/indicator/<id>)",
}


@functools.cache
def api_specs() -> list[dg.AssetSpec]:
    """External assets for the upstream API datasets: Dagster observes, never builds them."""
    specs = [
        dg.AssetSpec(
            key=api_dataset_key("chicago", dataset.name),
            description=f"{dataset.title}: Socrata dataset {dataset.id} on the City of Chicago "
            f"portal ({PORTAL_URL}/resource/{dataset.id}.{'geojson' if dataset.is_boundary else 'json'}).",
            group_name=API_GROUP,
            kinds={"socrata"},
        )
        for dataset in load_datasets().values()
    ]
    specs += [
        dg.AssetSpec(key=api_dataset_key("worldbank", name), description=f"World Bank "
                     f"Indicators API v2: {what}.", group_name=API_GROUP, kinds={"worldbank"})
        for name, what in WORLDBANK_RESOURCES.items()
    ]
    specs += [
        dg.AssetSpec(key=api_dataset_key("oecd", name), description=f"OECD SDMX dataflow "
                     f"{flow.agency},{flow.id}: {flow.indicator}.", group_name=API_GROUP,
                     kinds={"oecd"})
        for name, flow in load_dataflows().items()
    ]
    return specs


@functools.cache
def chicago_ingest() -> dict[str, dg.AssetsDefinition]:
    """Dataset name -> the load of that dataset: its raw table and, for row datasets,
    `<table>_rejects`."""
    return {
        name: dlt_load_asset(
            f"chicago_{name}_ingest",
            f"Loads new and changed rows of {dataset.title} ({dataset.id}) into raw_chicago.",
            make_source=lambda name=name: chicago.dataset_source(name),
            make_pipeline=lambda name=name: chicago.dataset_pipeline(name),
            explain=chicago.explain_failure,
            with_rejects=not dataset.is_boundary,
            # the overlap's rows raw already holds are not written again
            # (pipelines/chicago/unchanged.py): a refresh that found nothing writes nothing
            mark_unchanged=True,
        )
        for name, dataset in load_datasets().items()
    }


@functools.cache
def country_ingest() -> list[dg.AssetsDefinition]:
    """The World Bank load and one load per OECD dataflow.

    On a day when neither provider published anything, each stops after a few small
    requests (a World Bank probe per indicator, one OECD query per dataflow) and reports
    its tables unchanged, so dbt and the reports skip (defs/dbt.py).
    """
    worldbank_load = dlt_load_asset(
        "worldbank_ingest",
        "Loads the World Bank indicators that changed since the last load (and the country "
        "list when it changed) into raw_worldbank.",
        make_source=worldbank.worldbank_source,
        make_pipeline=worldbank.worldbank_pipeline,
        explain=worldbank.explain_failure,
        mark_unchanged=True,
    )
    oecd_loads = [
        dlt_load_asset(
            f"oecd_{name}_ingest",
            f"Loads the observations of OECD dataflow {flow.id} revised, added or deleted "
            f"since the last load into raw_oecd.{name}.",
            make_source=lambda name=name: oecd.dataflow_source(name),
            make_pipeline=lambda name=name: oecd.dataflow_pipeline(name),
            explain=oecd.explain_failure,
            mark_unchanged=True,
        )
        for name, flow in load_dataflows().items()
    ]
    return [worldbank_load, *oecd_loads]
