"""dlt loads as Dagster assets: API dataset -> raw table, one load per declared dataset."""

import os
from collections.abc import Callable, Iterator

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.dlt_event_iterator import fetch_row_count_metadata
from dagster_dlt.translator import DltResourceTranslatorData
from dlt import Pipeline
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines._common import LOADER_FILE_FORMAT, raw_dataset, row_paths
from pipelines.chicago import dataset_pipeline, dataset_source, explain_failure
from pipelines.chicago.settings import PORTAL_URL, Dataset, load_datasets
from pulse import warehouse


def raw_table_key(dataset_name: str, table_name: str) -> dg.AssetKey:
    """A raw table's key: [raw schema, table]. dbt sources resolve to the same key."""
    return dg.AssetKey([dataset_name, table_name])


def api_dataset_key(source_name: str, resource_name: str) -> dg.AssetKey:
    return dg.AssetKey(["api", source_name, resource_name])


class RawTableTranslator(DagsterDltTranslator):
    """Keys raw tables as [raw schema, table] and hangs each under its API dataset."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        schema = data.pipeline.dataset_name if data.pipeline else raw_dataset("chicago")
        source_name = schema.removeprefix("raw_")
        return spec.replace_attributes(
            key=raw_table_key(schema, data.resource.table_name),
            deps=[api_dataset_key(source_name, data.resource.name)],
            group_name=schema,
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
            key=api_dataset_key("chicago", dataset.name),
            description=f"{dataset.title}: Socrata dataset {dataset.id} on the City of Chicago "
            f"portal ({PORTAL_URL}/resource/{dataset.id}.{'geojson' if dataset.is_boundary else 'json'}).",
            group_name="api",
            kinds={"socrata"},
        )
        for dataset in load_datasets().values()
    ]


# Metadata of a raw table's materialization when the load found nothing new for it.
UNCHANGED = "pulse/unchanged_upstream"

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


def dlt_load_asset(
    name: str,
    description: str,
    make_source: Callable[[], DltSource],
    make_pipeline: Callable[[], Pipeline],
    explain: Callable[[BaseException], Exception | None],
    with_rejects: bool = False,
    mark_unchanged: bool = False,
) -> dg.AssetsDefinition:
    """The load of one dlt source (a dataset, a provider) as one Dagster multi-asset.

    What @dlt_assets builds, spelled out: dagster-dlt's decorator takes no retry policy,
    and the rejects tables are outputs of the same load. With `mark_unchanged`, a table the
    run wrote nothing to is reported with `UNCHANGED` in its metadata: when every load of a
    run says so, the dbt step of that run has nothing to rebuild and skips (defs/dbt.py).
    """
    specs = build_dlt_asset_specs(
        dlt_source=make_source(),
        dlt_pipeline=make_pipeline(),
        dagster_dlt_translator=RawTableTranslator(),
    )
    if with_rejects:
        specs += [rejects_spec(spec) for spec in specs]

    @dg.multi_asset(specs=specs, name=name, can_subset=True, retry_policy=INGEST_RETRY_POLICY)
    def load(context: dg.AssetExecutionContext, dlt: DagsterDltResource) -> Iterator:
        try:
            # Source and pipeline are rebuilt per run: they read this moment's configuration
            # and keep their local state beside the warehouse they load into.
            pipeline = make_pipeline()
            events = _with_row_counts(context, pipeline, dlt.run(
                context=context,
                dlt_source=make_source(),
                dlt_pipeline=pipeline,
                credentials=warehouse.url(role="loader"),  # writes only raw_* schemas
                loader_file_format=LOADER_FILE_FORMAT,
            ))
            for event in events:
                if mark_unchanged and not (event.metadata or {}).get("jobs"):
                    event = event._replace(metadata={**event.metadata, UNCHANGED: True})
                yield event
            if with_rejects:
                yield from _rejects_results(context, pipeline)
        except PipelineStepFailed as err:
            clear = explain(err)
            if clear is None:
                raise
            if not getattr(clear, "retriable", True):
                raise dg.Failure(str(clear), allow_retries=False) from err
            raise clear from err

    load.__doc__ = description
    return load


def ingest_assets(dataset: Dataset) -> dg.AssetsDefinition:
    """The load of one Chicago dataset: its raw table and, for row datasets, `<table>_rejects`.

    Each dataset has its own dlt pipeline, so schedules of different cadences never share
    local state.
    """
    return dlt_load_asset(
        f"chicago_{dataset.name}_ingest",
        f"Loads new and changed rows of {dataset.title} ({dataset.id}) into raw_chicago.",
        make_source=lambda: dataset_source(dataset.name),
        make_pipeline=lambda: dataset_pipeline(dataset.name),
        explain=explain_failure,
        with_rejects=not dataset.is_boundary,
    )


CHICAGO_INGEST = {name: ingest_assets(dataset) for name, dataset in load_datasets().items()}


def _with_row_counts(context: dg.AssetExecutionContext, pipeline, events: Iterator) -> Iterator:
    """dagster-dlt's fetch_row_count, except for a table the run wrote nothing to (a skipped
    boundary layer, no changed rows), where it raises: that event passes as it is."""
    for event in events:
        if (event.metadata or {}).get("jobs"):
            counts = fetch_row_count_metadata(event, context=context, dlt_pipeline=pipeline)
            event = event._replace(metadata={**counts, **event.metadata})
        yield event


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
