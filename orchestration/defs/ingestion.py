"""dlt loads as Dagster assets: API dataset -> raw table, one asset per dlt resource."""


from collections.abc import Iterator

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines._common import LOADER_FILE_FORMAT, postgres_pipeline, raw_dataset
from pipelines.chicago import chicago_source, explain_failure
from pipelines.chicago.settings import CRIMES_DATASET_ID, PORTAL_URL
from pulse import warehouse

# Where each dlt resource comes from upstream, shown as the first node of the lineage.
UPSTREAM_DATASETS = {("chicago", "crimes"): CRIMES_DATASET_ID}


def raw_table_key(dataset_name: str, table_name: str) -> dg.AssetKey:
    """A raw table's key: [raw schema, table]. dbt sources resolve to the same key."""
    return dg.AssetKey([dataset_name, table_name])


def api_dataset_key(source_name: str, resource_name: str) -> dg.AssetKey:
    return dg.AssetKey(["api", source_name, resource_name])


class RawTableTranslator(DagsterDltTranslator):
    """Keys raw tables as [raw_<source>, table] and hangs each under its API dataset."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        source_name = data.resource.source_name
        return spec.replace_attributes(
            key=raw_table_key(raw_dataset(source_name), data.resource.table_name),
            deps=[api_dataset_key(source_name, data.resource.name)],
            group_name=raw_dataset(source_name),
        )


def api_dataset_specs() -> list[dg.AssetSpec]:
    """External assets for the upstream API datasets: Dagster observes, never builds them."""
    return [
        dg.AssetSpec(
            key=api_dataset_key(source, resource),
            description=f"Socrata dataset {dataset_id} on the City of Chicago portal "
            f"({PORTAL_URL}/resource/{dataset_id}.json).",
            group_name="api",
            kinds={"socrata"},
        )
        for (source, resource), dataset_id in UPSTREAM_DATASETS.items()
    ]


@dlt_assets(
    dlt_source=chicago_source(),
    dlt_pipeline=postgres_pipeline("chicago"),
    name="chicago_ingest",
    dagster_dlt_translator=RawTableTranslator(),
)
def chicago_raw_assets(context: dg.AssetExecutionContext, dlt: DagsterDltResource) -> Iterator:
    """Loads new and changed rows from the Chicago portal into raw_chicago."""
    try:
        # Source and pipeline are rebuilt per run: they read this moment's configuration
        # and keep their local state beside the warehouse they load into.
        yield from dlt.run(
            context=context,
            dlt_source=chicago_source(),
            dlt_pipeline=postgres_pipeline("chicago"),
            credentials=warehouse.url(),
            loader_file_format=LOADER_FILE_FORMAT,
        ).fetch_row_count()
    except PipelineStepFailed as err:
        if clear := explain_failure(err):
            raise clear from err
        raise
