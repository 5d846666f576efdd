"""How dlt resources and dbt nodes become assets: one graph from API to report."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from pipelines.load import raw_dataset

from .catalog import describe_test
from .keys import api_dataset_key, is_raw_table, raw_table_key


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

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any],
                             unique_id: str, project) -> dg.AssetCheckSpec | None:
        """Each check says what it tests (generic dbt tests have no description of their own).

        A test on a raw table does not block Dagster: `dbt build` already skips every
        model downstream of a failing one. Blocking, it would make the geocoder (downstream
        of the raw tables, upstream of the enriched models) wait for dbt's source tests, and
        Dagster would split every refresh's dbt into two invocations around it."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return dg.AssetCheckSpec(spec.name, asset=spec.asset_key,
                                 description=spec.description
                                 or describe_test(manifest["nodes"][unique_id]),
                                 additional_deps=spec.additional_deps, metadata=spec.metadata,
                                 automation_condition=spec.automation_condition,
                                 partitions_def=spec.partitions_def,
                                 blocking=spec.blocking and not is_raw_table(spec.asset_key))


def dbt_translator() -> PulseDbtTranslator:
    # Tests on raw sources are checks of the raw tables: a failing one shows on the raw
    # asset and (dbt build) keeps every model downstream of it from being refreshed.
    return PulseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))
