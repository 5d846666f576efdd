"""dlt loads as Dagster assets: API dataset -> raw table, one asset per dlt resource."""

import os
from collections.abc import Iterator

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines._common import LOADER_FILE_FORMAT, postgres_pipeline, raw_dataset, row_paths
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


def rejects_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    """`<table>_rejects`: the rows of `<table>` that could not be loaded, written by the
    same load (the table itself appears with the first rejected row)."""
    *schema, table = spec.key.path
    return dg.AssetSpec(
        key=dg.AssetKey([*schema, f"{table}_rejects"]),
        deps=spec.deps,
        group_name=spec.group_name,
        description=f"Rows of {table} the load set aside, each with its reason and the row "
        "as sent: no id, a null byte, a value not of its declared type.",
        kinds={"dlt", "postgres"},
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


# dlt retries each request (429, 5xx, resets, timeouts, truncated pages); this retries the
# whole load after what outlasts that budget: a portal outage, a warehouse restart. A load
# that failed left nothing behind and its cursor where the loaded data ends, so a retry
# resumes, never duplicates. Errors a retry cannot fix (400, 403, 404) fail at once.
INGEST_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=float(os.environ.get("PULSE_INGEST_RETRY_DELAY", "30")),  # seconds, then x2, x4
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


CHICAGO_SPECS = build_dlt_asset_specs(
    dlt_source=chicago_source(),
    dlt_pipeline=postgres_pipeline("chicago"),
    dagster_dlt_translator=RawTableTranslator(),
)


# What @dlt_assets builds, spelled out: dagster-dlt's decorator takes no retry policy, and
# the rejects tables are outputs of the same load.
@dg.multi_asset(
    specs=[*CHICAGO_SPECS, *map(rejects_spec, CHICAGO_SPECS)],
    name="chicago_ingest",
    can_subset=True,
    retry_policy=INGEST_RETRY_POLICY,
)
def chicago_raw_assets(context: dg.AssetExecutionContext, dlt: DagsterDltResource) -> Iterator:
    """Loads new and changed rows from the Chicago portal into raw_chicago."""
    try:
        # Source and pipeline are rebuilt per run: they read this moment's configuration
        # and keep their local state beside the warehouse they load into.
        pipeline = postgres_pipeline("chicago")
        yield from dlt.run(
            context=context,
            dlt_source=chicago_source(),
            dlt_pipeline=pipeline,
            credentials=warehouse.url(role="loader"),  # writes only raw_* schemas
            loader_file_format=LOADER_FILE_FORMAT,
        ).fetch_row_count()
        yield from _rejects_results(context, pipeline)
    except PipelineStepFailed as err:
        clear = explain_failure(err)
        if clear is None:
            raise
        if not clear.retriable:
            raise dg.Failure(str(clear), allow_retries=False) from err
        raise clear from err


def _rejects_results(context: dg.AssetExecutionContext, pipeline) -> Iterator:
    """`<table>_rejects` per loaded resource, with how many rows took each path.

    Reported even when nothing was rejected: an output left out would skip every
    asset downstream of it (the rejected-rows mart) for the rest of the run.
    """
    for resource, paths in row_paths(pipeline).items():
        key = raw_table_key(pipeline.dataset_name, f"{resource}_rejects")
        if key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key, metadata={
                "rows_rejected": paths["rows_rejected"],
                "rows_loaded": paths["rows_loaded"],
                "duplicate_keys_merged": paths["duplicate_keys_merged"],
            })
