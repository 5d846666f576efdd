"""Report marts delivered as files: one asset per `rpt_*` mart, downstream of it.

Read from the dbt manifest, so a new report mart gets its asset without a code change;
each lands in every job that selects downstream of its mart (the refresh jobs do).
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from pulse.reports import FORMATS, ReportModel, export_report, report_models_in, reports_dir, write_index

from .dbt import PulseDbtTranslator
from .project import dbt_project, load_manifest

REPORTS_GROUP = "reports"


def report_key(model_name: str) -> dg.AssetKey:
    return dg.AssetKey([REPORTS_GROUP, model_name])


def build_report_asset(model: ReportModel, mart_key: dg.AssetKey) -> dg.AssetsDefinition:
    """`reports/<model>`: the mart written as CSV, Parquet and JSON, and the index rebuilt."""

    @dg.asset(
        key=report_key(model.name),
        deps=[mart_key],
        group_name=REPORTS_GROUP,
        kinds={"csv", "parquet", "json"},
        description=f"{model.name} as CSV, Parquet and JSON in the reports folder "
        f"(PULSE_REPORTS_DIR, else reports/), listed in its index.html. {model.description}",
    )
    def _report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        out_dir = reports_dir()  # at run time: the environment of this run
        report = export_report(model.schema, model.table, out_dir, name=model.name,
                               description=model.description,
                               column_descriptions=model.column_descriptions)
        index = write_index(out_dir)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": report.row_count,
            "dagster/column_schema": dg.TableSchema(columns=[
                dg.TableColumn(c.name, c.type, description=c.description or None)
                for c in report.columns]),
            **{fmt: dg.MetadataValue.path(str(report.path(fmt))) for fmt in FORMATS},
            "index": dg.MetadataValue.path(str(index)),
            "refreshed_at": report.refreshed_at,
            "read_as": report.read_as,
        })

    return _report


def build_report_assets(manifest: Mapping[str, Any] | Path | None = None) -> list[dg.AssetsDefinition]:
    """One report asset per report mart of the manifest (default: the project's)."""
    if not isinstance(manifest, Mapping):
        manifest = json.loads(Path(manifest).read_text()) if manifest else load_manifest()
    translator = PulseDbtTranslator()  # the keys the dbt assets have
    return [
        build_report_asset(model, translator.get_asset_spec(manifest, model.unique_id,
                                                            dbt_project).key)
        for model in report_models_in(manifest)
    ]


report_assets = build_report_assets()
