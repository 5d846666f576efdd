"""The dbt project as Dagster assets; dbt tests become asset checks."""


import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from pulse.dbt import export_dbt_env

from .ingestion import UNCHANGED, raw_table_key
from .project import dbt_project

# Unit tests check SQL logic on fixtures: they run in `make test`, not on every refresh.
DBT_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


class PulseDbtTranslator(DagsterDbtTranslator):
    """dbt sources take the raw table's key, so the graph runs API -> raw -> marts unbroken."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=raw_table_key(props["schema"], props["identifier"]))
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # staging / enriched / marts: the layer is the group, as in the dbt folders.
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 and dbt_resource_props["resource_type"] == "model" else "seeds"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    # Tests on raw sources are checks of the raw tables: a failing one shows on the raw asset
    # and (dbt build) keeps every model downstream of it from being refreshed.
    dagster_dbt_translator=PulseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)),
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
    """`dbt build` of the selected models: seeds, models and their tests, in dependency order."""
    if nothing_new_upstream(context):
        context.log.info("every load of this run found nothing new upstream: no dbt build")
        return  # the outputs are skippable: the reports downstream skip too
    export_dbt_env()  # profiles.yml reads PG* variables: dbt runs as the transformer role
    # Dagster may run the models in several steps (those upstream of geocoded_points, then
    # the rest). dbt's default ("eager") would run a test with the first step that selects
    # any of its parents: a relationships test from a seed to a model not built yet.
    # "buildable" runs it with the step that builds its last parent.
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"
    yield from dbt.cli(DBT_BUILD_ARGS, context=context).stream().fetch_row_counts()


def nothing_new_upstream(context: dg.AssetExecutionContext) -> bool:
    """True when this run loaded raw tables and every one of them came back unchanged."""
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    loads = [m for r in records if (m := r.event_log_entry.asset_materialization)
             and m.asset_key.path[0].startswith("raw_")]
    return bool(loads) and all(
        getattr(m.metadata.get(UNCHANGED), "value", False) for m in loads)
