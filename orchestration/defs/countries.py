"""Country statistics: the World Bank and OECD loads, their daily refresh, per-country reports.

Both providers load into raw tables that dbt reconciles into one enriched
country-indicator-year table; the graph runs api -> raw_worldbank / raw_oecd -> staging ->
int_countries__indicator_years -> rpt_countries__* -> reports.
"""

import os

import dagster as dg

from pipelines.oecd import dataflow_pipeline, dataflow_source
from pipelines.oecd import explain_failure as explain_oecd
from pipelines.oecd.settings import load_dataflows
from pipelines.worldbank import explain_failure as explain_worldbank
from pipelines.worldbank import worldbank_pipeline, worldbank_source
from pulse.country_reports import COUNTRIES_FOLDER, YEARLY_MARTS, export_country_reports
from pulse.reports import ReportError, reports_dir, write_index

from .dbt import PulseDbtTranslator
from .ingestion import api_dataset_key, dlt_load_asset
from .project import dbt_project, load_manifest
from .reports import REPORTS_GROUP

WORLDBANK_RESOURCES = {
    "countries": "Economies with their region and income level (/v2/country), aggregates marked",
    "indicators": "The declared indicators' names and last update dates",
    "indicator_values": "Every declared indicator for every economy and year "
    "(/v2/country/all/indicator/<id>)",
}


def country_api_specs() -> list[dg.AssetSpec]:
    """The providers' datasets as external assets: Dagster observes, never builds them."""
    specs = [
        dg.AssetSpec(key=api_dataset_key("worldbank", name), description=f"World Bank "
                     f"Indicators API v2: {what}.", group_name="api", kinds={"worldbank"})
        for name, what in WORLDBANK_RESOURCES.items()
    ]
    specs += [
        dg.AssetSpec(key=api_dataset_key("oecd", name), description=f"OECD SDMX dataflow "
                     f"{flow.agency},{flow.id}: {flow.indicator}.", group_name="api",
                     kinds={"oecd"})
        for name, flow in load_dataflows().items()
    ]
    return specs


# On a day when neither provider published anything, the refresh stops after a few small
# requests (a World Bank probe per indicator, one OECD query per dataflow): every load
# reports its tables unchanged, so dbt and the reports skip (defs/dbt.py).
WORLDBANK_INGEST = dlt_load_asset(
    "worldbank_ingest",
    "Loads the World Bank indicators that changed since the last load (and the country "
    "list when it changed) into raw_worldbank.",
    make_source=worldbank_source,
    make_pipeline=worldbank_pipeline,
    explain=explain_worldbank,
    mark_unchanged=True,
)

OECD_INGEST = {
    name: dlt_load_asset(
        f"oecd_{name}_ingest",
        f"Loads the observations of OECD dataflow {flow.id} revised, added or deleted since "
        f"the last load into raw_oecd.{name}.",
        make_source=lambda name=name: dataflow_source(name),
        make_pipeline=lambda name=name: dataflow_pipeline(name),
        explain=explain_oecd,
        mark_unchanged=True,
    )
    for name, flow in load_dataflows().items()
}

COUNTRY_INGEST = [WORLDBANK_INGEST, *OECD_INGEST.values()]

countries_refresh = dg.define_asset_job(
    "countries_refresh",
    selection=dg.AssetSelection.assets(*COUNTRY_INGEST).downstream(),
    description="Load what the World Bank and the OECD changed, then rebuild the country "
    "models and reports that depend on it.",
)

# Daily: both providers publish at most once a day. STOPPED by default like the Chicago
# schedules (the default URLs are the live APIs); PULSE_SCHEDULE_COUNTRIES overrides the cron.
countries_schedule = dg.ScheduleDefinition(
    name="countries_daily",
    job=countries_refresh,
    cron_schedule=os.environ.get("PULSE_SCHEDULE_COUNTRIES", "0 6 * * *"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


class CountryReportConfig(dg.Config):
    """Launchpad: leave `country` empty for every country, or give an ISO3 code (JPN)."""

    country: str = ""


def _mart_keys() -> list[dg.AssetKey]:
    manifest = load_manifest()
    translator = PulseDbtTranslator()
    wanted = {*YEARLY_MARTS, "rpt_countries__profile"}
    return [translator.get_asset_spec(manifest, uid, dbt_project).key
            for uid, node in manifest["nodes"].items() if node.get("name") in wanted]


@dg.asset(
    key=dg.AssetKey([REPORTS_GROUP, COUNTRIES_FOLDER]),
    deps=_mart_keys(),
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
    index = write_index(reports_dir())  # lists the folder beside the mart reports
    context.log.info(f"{len(written.countries)} country report(s) in {written.directory}")
    return dg.MaterializeResult(metadata={
        "countries": len(written.countries),
        "rows": written.rows,
        "folder": dg.MetadataValue.path(str(written.directory)),
        "index": dg.MetadataValue.path(str(index)),
        "columns": ", ".join(written.columns),
    })
