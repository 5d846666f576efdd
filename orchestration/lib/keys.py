"""Asset keys, one rule each: dlt and dbt name the same raw table the same way."""

import dagster as dg

REPORTS_GROUP = "reports"
API_GROUP = "api"


def raw_table_key(schema: str, table: str) -> dg.AssetKey:
    """A raw table's key: [raw schema, table]. dbt sources resolve to the same key."""
    return dg.AssetKey([schema, table])


def is_raw_table(key: dg.AssetKey) -> bool:
    return len(key.path) == 2 and key.path[0].startswith("raw_")


def api_dataset_key(source_name: str, resource_name: str) -> dg.AssetKey:
    """An upstream API dataset, observed, never built: [api, source, dataset]."""
    return dg.AssetKey([API_GROUP, source_name, resource_name])


def report_key(name: str) -> dg.AssetKey:
    """A file export in the reports folder: [reports, mart or folder]."""
    return dg.AssetKey([REPORTS_GROUP, name])
