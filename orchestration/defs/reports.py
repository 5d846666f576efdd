"""Stage 4, reports: report marts delivered as files, and one CSV per country.

One asset per `rpt_*` mart, read from the dbt manifest, so a new report mart gets its
asset without a code change; each lands in every job that selects downstream of its mart
(the refresh jobs do).
"""

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from pulse.country_reports import COUNTRIES_FOLDER, PROFILE, YEARLY_MARTS, export_country_reports
from pulse.maps import BOUNDARIES
from pulse.reports import (
    FORMATS,
    ReportError,
    ReportModel,
    export_report,
    prune_reports,
    report_models_in,
    reports_dir,
    write_index,
)

from ..lib.dbt_project import dbt_project, manifest
from ..lib.keys import REPORTS_GROUP, report_key
from ..lib.translators import dbt_translator


def build_report_asset(model: ReportModel, mart_key: dg.AssetKey,
                       models: Sequence[ReportModel] = (),
                       also_reads: Sequence[dg.AssetKey] = ()) -> dg.AssetsDefinition:
    """`reports/<model>`: the mart written as CSV, Parquet and JSON, and the index rebuilt
    without the reports of marts that are not among `models` (removed from the project).
    `also_reads`: other marts its page draws from (a map's boundaries)."""

    @dg.asset(
        key=report_key(model.name),
        deps=[mart_key, *also_reads],
        group_name=REPORTS_GROUP,
        kinds={"csv", "parquet", "json"},
        description=f"{model.name} as CSV, Parquet and JSON in the reports folder "
        f"(PULSE_REPORTS_DIR, else reports/), listed in its index.html. {model.description}",
    )
    def _report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        out_dir = reports_dir()  # at run time: the environment of this run
        report = export_report(model.schema, model.table, out_dir, name=model.name,
                               description=model.description,
                               column_descriptions=model.column_descriptions, model=model)
        if models:  # the project's report marts: without them nothing is known to be gone
            _prune(context, out_dir, models)
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


def _prune(context: dg.AssetExecutionContext, out_dir: Path,
           models: Sequence[ReportModel]) -> None:
    for name in prune_reports(out_dir, models):
        context.log.info(f"removed the report {name}: its mart is no longer in the project")


def _mart_key(dbt_manifest: Mapping[str, Any], unique_id: str) -> dg.AssetKey:
    return dbt_translator().get_asset_spec(dbt_manifest, unique_id, dbt_project()).key


def build_report_assets(dbt_manifest: Mapping[str, Any]) -> list[dg.AssetsDefinition]:
    """One report asset per report mart of `dbt_manifest`."""
    models = report_models_in(dbt_manifest)
    boundaries = [_mart_key(dbt_manifest, uid) for uid, node in dbt_manifest["nodes"].items()
                  if node.get("resource_type") == "model" and node.get("name") == BOUNDARIES]
    return [build_report_asset(model, _mart_key(dbt_manifest, model.unique_id), models,
                               also_reads=boundaries if model.draws_maps else ())
            for model in models]


@functools.cache
def report_assets() -> list[dg.AssetsDefinition]:
    """The report assets of the project's report marts."""
    return build_report_assets(manifest())


class CountryReportConfig(dg.Config):
    """Launchpad: leave `country` empty for every country, or give an ISO3 code (JPN)."""

    country: str = ""


@functools.cache
def country_reports() -> dg.AssetsDefinition:
    dbt_manifest = manifest()
    wanted = {*YEARLY_MARTS, PROFILE}
    marts = [_mart_key(dbt_manifest, uid) for uid, node in dbt_manifest["nodes"].items()
             if node.get("name") in wanted]

    @dg.asset(
        key=report_key(COUNTRIES_FOLDER),
        deps=marts,
        group_name=REPORTS_GROUP,
        kinds={"csv"},
        description="One CSV per country (reports/countries/<ISO3>.csv): every year of its "
        "population and GDP growth, health and economy. Launch it with a country code to "
        "write just that country's file.",
    )
    def country_reports(context: dg.AssetExecutionContext,
                        config: CountryReportConfig) -> dg.MaterializeResult:
        try:
            written = export_country_reports([config.country] if config.country else None,
                                             out_dir=reports_dir())
        except ReportError as err:  # an unknown country code, marts not built: nothing to retry
            raise dg.Failure(str(err), allow_retries=False) from err
        _prune(context, reports_dir(), report_models_in(dbt_manifest))
        index = write_index(reports_dir())  # lists the folder beside the mart reports
        context.log.info(f"{len(written.countries)} country report(s) in {written.directory}")
        for code in written.skipped:  # bad upstream data: the others are written, it is not
            context.log.warning(f"country code {code!r} is not a country code (2-3 capital "
                                "letters or digits): its report was skipped")
        return dg.MaterializeResult(metadata={
            "countries": len(written.countries),
            "skipped": ", ".join(repr(code) for code in written.skipped) or "none",
            "rows": written.rows,
            "folder": dg.MetadataValue.path(str(written.directory)),
            "index": dg.MetadataValue.path(str(index)),
            "columns": ", ".join(written.columns),
        })

    return country_reports
