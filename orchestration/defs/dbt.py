"""Stage 3, dbt: the dbt project as assets (staging, enriched, marts); dbt tests are checks."""

import functools
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pulse import locks
from pulse.dbt import BUILD_LOCK, DBT_ROLE, check_before_build
from pulse.warehouse import Connection, WarehouseError

from ..lib.dbt_project import manifest
from ..lib.dlt_load import UNCHANGED
from ..lib.resources import WarehouseResource
from ..lib.translators import dbt_translator

# Unit tests check SQL logic on fixtures: they run in `make test`, not on every refresh.
DBT_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]
# Which rows the data tests of the enriched point models read (the var `tests_since`,
# dbt_project/macros/tests_since.sql): a run tagged with it says, dbt_daily_tests
# "everything"; any other run "marts", the rows the marts have not counted yet. It
# reaches dbt as PULSE_TESTS_SINCE, not in DBT_BUILD_ARGS as `--vars`: dbt parses the
# whole project again when the --vars differ from its last parse's (docs/operations.md).
TESTS_SINCE_TAG = "pulse/tests_since"
REFRESH_TESTS_SINCE = "marts"


@functools.cache
def dbt_models() -> dg.AssetsDefinition:
    # No `project=` here: given one, dagster-dbt runs a selection of over 200 nodes (the
    # daily tests job) against a copy of the project directory, which for Pulse is the
    # whole checkout with its virtualenv and embedded warehouse. The dbt resource already
    # knows the project; only source code links in the UI need it here.
    @dbt_assets(manifest=manifest(), dagster_dbt_translator=dbt_translator(),
                name="dbt_models", pool="dbt")
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                   warehouse: WarehouseResource) -> Iterator:
        """`dbt build` of the selected models: seeds, models and their tests, in dependency order."""
        if nothing_new_upstream(context):
            context.log.info("every load of this run found nothing new upstream: no dbt build")
            return  # the outputs are skippable: the reports downstream skip too
        # dbt runs as the transformer role, one build at a time: two refresh jobs would
        # rebuild the same shared marts at once (the pool queues them in this instance,
        # the warehouse lock everywhere else).
        transformer = warehouse.url(DBT_ROLE)
        tests_since = context.run.tags.get(TESTS_SINCE_TAG, REFRESH_TESTS_SINCE)
        with warehouse.dbt_env(PULSE_TESTS_SINCE=tests_since), \
                locks.exclusive(transformer, BUILD_LOCK):
            try:
                check_before_build(Connection.from_url(transformer))
            except WarehouseError as err:  # a retry cannot help: say it at the top of the run
                raise dg.Failure(str(err), allow_retries=False) from err
            yield from dbt.cli([*DBT_BUILD_ARGS, *indirect_selection(context)],
                               context=context).stream().fetch_row_counts()

    return dbt_models


def indirect_selection(context: dg.AssetExecutionContext) -> list[str]:
    """`--indirect-selection buildable` when every check of the selected models runs.

    Dagster may run the models in several steps (those upstream of geocoded_points, then
    the rest). dbt's default ("eager") would run a test with the first step that selects
    any of its parents: a relationships test from a seed to a model not built yet.
    "buildable" runs it with the step that builds its last parent. When some checks of
    the selected models are left out, dagster-dbt names each test to run itself.
    """
    wanted = {check for check in context.assets_def.check_keys
              if check.asset_key in context.selected_asset_keys}
    if wanted <= set(context.selected_asset_check_keys):
        return ["--indirect-selection", "buildable"]
    return []


def nothing_new_upstream(context: dg.AssetExecutionContext) -> bool:
    """True when this run loaded raw tables, every one of them came back unchanged, and
    every model this step builds was last built after the last load that did change them.

    Read from this run's events rather than left to Dagster's own skipping (outputs not
    yielded): that would skip dbt when *any* load was unchanged, and a run where one
    provider published and another did not must still build. And not from this run alone:
    a run killed or failed after its loads, before its build, leaves the models behind
    the raw tables, and the next run finds nothing new to load.
    """
    instance = context.instance
    records = instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    loads = [m for r in records if (m := r.event_log_entry.asset_materialization)
             and m.asset_key.path[0].startswith("raw_")]
    if not loads or not all(_unchanged(m) for m in loads):
        return False
    last_change = max(_last_change(instance, m.asset_key) for m in loads)
    for key in context.selected_asset_keys:
        built = instance.get_latest_materialization_event(key)
        if built is None or built.timestamp < last_change:
            return False
    return True


def _unchanged(materialization: dg.AssetMaterialization) -> bool:
    return getattr(materialization.metadata.get(UNCHANGED), "value", False)


def _last_change(instance: dg.DagsterInstance, key: dg.AssetKey, look_back: int = 100) -> float:
    """When `key` was last materialized with new data. Past `look_back` unchanged ones, the
    oldest of them: later than the change, so at worst a build that was not needed."""
    found = instance.fetch_materializations(key, limit=look_back).records  # newest first
    for record in found:
        if not _unchanged(record.asset_materialization):
            return record.timestamp
    return found[-1].timestamp if found else 0.0
