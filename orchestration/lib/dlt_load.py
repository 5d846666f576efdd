"""The one load factory: a dlt source's load as a Dagster multi-asset.

The asset runs `pipelines.load.run_source`, the function `pulse load`, the benchmark and
the reliability suite's crash trials run, so what they prove holds for the schedules.
"""

import os
from collections.abc import Callable, Iterator

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs
from dlt.extract.source import DltSource

from pipelines import load

from .keys import raw_table_key
from .resources import WarehouseResource
from .translators import RawTableTranslator

# Metadata of a raw table's materialization when the load found nothing new for it.
UNCHANGED = "pulse/unchanged_upstream"


def ingest_retry_policy() -> dg.RetryPolicy:
    """dlt retries each request (429, 5xx, resets, timeouts, truncated pages); this retries
    the whole load after what outlasts that budget: a portal outage, a warehouse restart.
    A load that failed left nothing behind and its cursor where the loaded data ends, so a
    retry resumes, never duplicates. Errors a retry cannot fix (400, 403, 404) fail at once.
    """
    return dg.RetryPolicy(
        max_retries=3,
        delay=float(os.environ.get("PULSE_INGEST_RETRY_DELAY", "30")),  # seconds, then x2, x4
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
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


def dlt_load_asset(
    name: str,
    description: str,
    make_source: Callable[[], DltSource],
    make_pipeline: Callable[[], dlt.Pipeline],
    explain: Callable[[BaseException], Exception | None],
    with_rejects: bool = False,
    mark_unchanged: bool = False,
    spec_source: Callable[[], DltSource] | None = None,
    upstream: dg.AssetKey | None = None,
    extra_tables: dict[str, str] | None = None,
    after_load: Callable[[str], object] | None = None,
) -> dg.AssetsDefinition:
    """The load of one dlt source (a dataset, a provider) as one Dagster multi-asset.

    Its specs come from dagster-dlt (`build_dlt_asset_specs`); the body is ours, since
    dagster-dlt's resource runs dlt its own way (it drops local state first) and its
    decorator takes no retry policy. The rejects tables are outputs of the same load.
    With `mark_unchanged`, a table the run wrote nothing to carries `UNCHANGED` in its
    metadata: when every load of a run says so, the run's dbt step skips (defs/dbt.py).

    `spec_source` builds the source for the specs alone, for a source whose configuration
    has no default (Loki's URL): the graph loads before anyone configured it. `upstream`
    is the one API asset every table hangs under (the translator's default: one per
    resource); `extra_tables` ({table: description}) are tables the load writes beside
    its resources' (a transformer's table variant). `after_load(url)` runs after a load
    that succeeded, as the loader (the indexes its readers need).
    """
    specs = build_dlt_asset_specs(
        dlt_source=(spec_source or make_source)(),
        dlt_pipeline=make_pipeline(),
        dagster_dlt_translator=RawTableTranslator(),
    )
    if upstream is not None:
        specs = [spec.replace_attributes(deps=[upstream]) for spec in specs]
    if with_rejects:
        specs += [rejects_spec(spec) for spec in specs]
    extra_keys = {}
    for table, what in (extra_tables or {}).items():
        key = raw_table_key(specs[0].key.path[0], table)
        extra_keys[key] = table
        specs.append(dg.AssetSpec(key=key, deps=specs[0].deps, group_name=specs[0].group_name,
                                  description=what, kinds={"dlt", "postgres"}))

    # One pool per load: with the instance's default pool limit of 1 (`pulse dev` writes
    # it into dagster.yaml), a second run's load waits in Dagster's queue; the warehouse
    # lock in `run_source` holds the same line outside this instance.
    @dg.multi_asset(specs=specs, name=name, can_subset=True, retry_policy=ingest_retry_policy(),
                    pool=name)
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
        # Source and pipeline are built per run: they read this moment's configuration and
        # keep their local state beside the warehouse they load into.
        pipeline, source = make_pipeline(), make_source()
        chosen = {raw_table_key(pipeline.dataset_name, r.table_name): r
                  for r in source.selected_resources.values()}
        chosen = {key: r for key, r in chosen.items() if key in context.selected_asset_keys}
        source = source.with_resources(*(r.name for r in chosen.values()))
        # as the loader, which writes only raw_* schemas
        credentials = warehouse.url("loader", raw_dataset=pipeline.dataset_name)
        try:
            info = load.run_source(pipeline, source, explain=explain, credentials=credentials)
        except load.SourceError as err:
            if not err.retriable:
                raise dg.Failure(str(err), allow_retries=False) from err
            raise
        if after_load is not None:
            after_load(credentials)
        for key, resource in chosen.items():
            yield dg.MaterializeResult(asset_key=key, metadata=_table_metadata(
                context, resource, info, pipeline, mark_unchanged))
        if with_rejects:
            yield from _rejects_results(context, pipeline)
        for key, table in extra_keys.items():
            if key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=_row_count(pipeline, table))

    _load.__doc__ = description
    return _load


def _table_metadata(context: dg.AssetExecutionContext, resource, info, pipeline: dlt.Pipeline,
                    mark_unchanged: bool) -> dict:
    """dagster-dlt's metadata of a loaded table (jobs, columns, rows loaded), its row count,
    and `UNCHANGED` when `mark_unchanged` and the run wrote nothing to it."""
    metadata = dict(DagsterDltResource().extract_resource_metadata(context, resource, info, pipeline))
    if not metadata.get("jobs"):
        return {**metadata, UNCHANGED: True} if mark_unchanged else metadata
    return {**metadata, **_row_count(pipeline, resource.table_name)}


def _row_count(pipeline: dlt.Pipeline, table_name: str) -> dict:
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(table_name)  # a quoted dlt identifier
        # a table variant is created by its first row (no line rejected yet: no table)
        if client.execute_sql("select to_regclass(%s)", table)[0][0] is None:
            return {}
        rows = client.execute_sql(f"select count(*) from {table}")
    return {"dagster/row_count": rows[0][0]}


def _rejects_results(context: dg.AssetExecutionContext, pipeline: dlt.Pipeline) -> Iterator:
    """`<table>_rejects` per loaded resource, with how many rows took each path.

    Reported even when nothing was rejected: an output left out would skip every
    asset downstream of it (the rejected-rows mart) for the rest of the run.
    """
    for resource, paths in load.row_paths(pipeline).items():
        key = raw_table_key(pipeline.dataset_name, f"{resource}_rejects")
        if key in context.selected_asset_keys:
            metadata = {
                "rows_rejected": paths["rows_rejected"],
                "rows_loaded": paths["rows_loaded"],
                "duplicate_keys_merged": paths["duplicate_keys_merged"],
            }
            if not paths["rows_rejected"]:  # nothing new in it for the rejected-rows mart
                metadata[UNCHANGED] = True
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
