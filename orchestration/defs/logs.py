"""Logs: web server access logs from Grafana Loki and the site's sitemaps, then the
crawl marts (docs/logs.md).

`loki_ingest` runs the `loki` dlt source (what `pulse load loki` runs): new lines into
raw_logs.lines, each parsed into raw_logs.requests or raw_logs.request_rejects.
`sitemaps_ingest` reads the configured sitemaps into raw_logs.sitemap_urls. The job
`logs_refresh` is the Loki load and everything downstream of it; its schedule runs it
every 5 minutes (PULSE_SCHEDULE_LOGS), and `sitemaps_daily` reloads the sitemaps.
"""

import functools
import os

import dagster as dg

from pipelines import loki, sitemaps
from pipelines.events.settings import lake_url
from pipelines.loki.indexes import index_raw_logs
from pipelines.loki.lake import FOLDER, copy_lines_to_lake
from pulse import roles

from ..lib.dlt_load import dlt_load_asset
from ..lib.keys import api_dataset_key, raw_table_key
from ..lib.resources import WarehouseResource

LOKI_KEY = api_dataset_key("logs", "loki")
SITEMAPS_KEY = api_dataset_key("logs", "sitemaps")


def logs_api_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(key=LOKI_KEY, group_name="api", kinds={"loki"},
                     description="Grafana Loki: the web servers' access log lines the LogQL "
                     "query selects (SOURCES__LOKI__BASE_URL, SOURCES__LOKI__QUERY), read "
                     "through /loki/api/v1/query_range."),
        dg.AssetSpec(key=SITEMAPS_KEY, group_name="api", kinds={"xml"},
                     description="The site's sitemaps and sitemap indexes "
                     "(SOURCES__SITEMAPS__LOCATIONS: URLs or files)."),
    ]


@functools.cache
def loki_ingest() -> dg.AssetsDefinition:
    return dlt_load_asset(
        "loki_ingest",
        "Loads the log lines Loki received since the last load (less the overlap) into "
        "raw_logs.lines, each parsed as a web request.",
        make_source=loki.loki_source,
        # Loki's URL has no default; the specs need only the resources' names
        spec_source=lambda: loki.loki_source(base_url="http://loki.invalid", query='{job="nginx"}'),
        make_pipeline=loki.loki_pipeline,
        explain=loki.explain_failure,
        upstream=LOKI_KEY,
        after_load=index_raw_logs,
        extra_tables={"request_rejects": "Lines that did not parse as a web request, with "
                      "the reason and the line as logged."},
    )


@functools.cache
def logs_lake() -> dg.AssetsDefinition:
    @dg.asset(key=dg.AssetKey(["lake", "logs_lines"]), deps=[raw_table_key("raw_logs", "lines")],
              group_name="raw_logs", kinds={"parquet"}, pool="logs_lake")
    def logs_lines_lake(context: dg.AssetExecutionContext,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
        """raw_logs.lines in the Parquet lake (PULSE_LAKE_URL, beside the events), as
        logs/lines/dt=YYYY-MM-DD/hour=HH/: each hour a load touched, rewritten
        whole from the warehouse (pipelines/loki/lake.py)."""
        url = lake_url()
        if url is None:
            context.log.info("PULSE_LAKE_URL is none: no lake copy")
            return dg.MaterializeResult(metadata={"lake": "off"})
        copy = copy_lines_to_lake(url, roles.connection("loader", warehouse.database))
        return dg.MaterializeResult(metadata={
            "lake": f"{url.rstrip('/')}/{FOLDER}", "hours_rewritten": copy.hours,
            "lines_written": copy.lines, "seconds": round(copy.seconds, 2),
            "copied_through_load": copy.load_id or ""})

    return logs_lines_lake


@functools.cache
def sitemaps_ingest() -> dg.AssetsDefinition:
    return dlt_load_asset(
        "sitemaps_ingest",
        "Reads every configured sitemap (and the sitemaps its indexes list) into "
        "raw_logs.sitemap_urls, replacing the table: a sitemap is a snapshot.",
        make_source=sitemaps.sitemaps_source,
        spec_source=lambda: sitemaps.sitemaps_source(locations=["sitemap.xml"]),
        make_pipeline=sitemaps.sitemaps_pipeline,
        explain=sitemaps.explain_failure,
        upstream=SITEMAPS_KEY,
    )


@functools.cache
def logs_jobs() -> list:  # unresolved asset jobs, resolved by Definitions
    from .schedules import downstream_of

    return [
        dg.define_asset_job(
            "logs_refresh", selection=downstream_of(loki_ingest()),
            description="Load the new log lines from Loki, then rebuild the crawl models "
            "and reports."),
        dg.define_asset_job(
            "sitemaps_refresh", selection=sitemaps_selection(),
            description="Reload the sitemaps, then rebuild the crawl models and reports that "
            "read them (and the models they read, from the lines already loaded)."),
    ]


def sitemaps_selection() -> dg.AssetSelection:
    """The sitemaps' load and what reads it, with every model those read but not Loki's
    load: the first sitemap load may come before the first log load."""
    from .freshness import freshness_checks
    from .schedules import downstream_of

    marts = downstream_of(sitemaps_ingest())
    return (marts | marts.upstream()) - dg.AssetSelection.assets(loki_ingest()) \
        - dg.AssetSelection.key_prefixes("api") - dg.AssetSelection.checks(freshness_checks())


@functools.cache
def logs_schedules() -> list[dg.ScheduleDefinition]:
    """Both start STOPPED: Loki has no default address (set SOURCES__LOKI__BASE_URL and
    SOURCES__SITEMAPS__LOCATIONS first), then turn them on in the UI or with
    `dagster schedule start`."""
    jobs = {job.name: job for job in logs_jobs()}
    return [
        dg.ScheduleDefinition(
            name="logs_every_5_minutes", job=jobs["logs_refresh"],
            cron_schedule=os.environ.get("PULSE_SCHEDULE_LOGS", "*/5 * * * *"),
            execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
            description="Every 5 minutes: Loki's new lines through to the crawl reports. "
            "Stopped by default: set SOURCES__LOKI__BASE_URL first."),
        dg.ScheduleDefinition(
            name="sitemaps_daily", job=jobs["sitemaps_refresh"],
            cron_schedule=os.environ.get("PULSE_SCHEDULE_SITEMAPS", "15 5 * * *"),
            execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
            description="Daily: the sitemaps, for the orphan and never-crawled reports. "
            "Stopped by default: set SOURCES__SITEMAPS__LOCATIONS first."),
    ]
