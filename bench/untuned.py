"""The same Chicago source with dlt's default settings: what a user gets without tuning.

Same rest_api configuration, columns, paging and page size; dlt's defaults for the
rest: JSON rows through the normalizer, INSERT statements, and the closed cursor
range that de-duplicates rows sharing the boundary timestamp.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.helpers.requests import Client
from dlt.sources.rest_api import rest_api_resources

from pipelines.chicago import client_config, rows_config
from pipelines.chicago.settings import SYSTEM_FIELDS, load_datasets


def _rename(row: dict[str, Any]) -> dict[str, Any]:
    for source_name, column in SYSTEM_FIELDS.items():
        if source_name in row:
            row[column] = row.pop(source_name)
    return row


def untuned_resources(base_url: str) -> list:
    crimes = rows_config(load_datasets()["crimes"], page_size=50_000, overlap_seconds=0,
                         initial_value="2001-01-01T00:00:00Z")
    # dlt's defaults: a closed range with boundary de-duplication, no lag, no conversion
    crimes["endpoint"]["incremental"] = {
        "cursor_path": "socrata_updated_at",
        "initial_value": "2001-01-01T00:00:00.000Z",
    }
    crimes["processing_steps"] = [{"map": _rename}]
    http = Client(request_timeout=60, request_max_attempts=5, request_backoff_factor=1.0,
                  raise_for_status=False)
    client = client_config(base_url.rstrip("/") + "/", None, http)
    return rest_api_resources({"client": client, "resources": [crimes]})


def untuned_load(base_url: str, conn_url: str, pipelines_dir: str) -> int:
    pipeline = dlt.pipeline("chicago_untuned", destination="postgres",
                            dataset_name="raw_untuned", pipelines_dir=pipelines_dir)
    pipeline.run(untuned_resources(base_url), credentials=conn_url)
    return pipeline.last_trace.last_normalize_info.row_counts.get("crimes", 0)
