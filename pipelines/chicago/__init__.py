"""City of Chicago open data (Socrata SODA 2.1), loaded incrementally with dlt's rest_api.

Run it on its own with `python -m pipelines.chicago` (see __main__.py).
"""

from __future__ import annotations

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.time import ensure_pendulum_datetime
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.rest_api import rest_api_resources

from pipelines._common import postgres_pipeline, run_source

from .arrow import PageToArrow, SplitRejects
from .helpers import SocrataError, check_page, explain, soql_timestamp
from .paging import SocrataKeysetPaginator
from .settings import CRIMES_COLUMNS, CRIMES_DATASET_ID, MAX_PAGE_SIZE, PORTAL_URL

__all__ = ["SocrataError", "chicago_source", "load_chicago"]


@dlt.source(name="chicago")
def chicago_source(
    base_url: str = PORTAL_URL,
    app_token: str | None = dlt.secrets.value,
    page_size: int = MAX_PAGE_SIZE,
    overlap_seconds: float = 60.0,
    initial_value: str = "2001-01-01T00:00:00.000Z",
    request_timeout: float = 60.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
) -> list[DltResource]:
    """The Chicago portal's datasets as dlt resources; today `crimes` (ijzp-q8t2).

    Every value is dlt configuration under `[sources.chicago]` (for example
    `SOURCES__CHICAGO__BASE_URL`); the app token is a secret (`SOURCES__CHICAGO__APP_TOKEN`)
    sent as the `X-App-Token` header, so it never appears in a URL or a log line.

    The cursor is the platform's `:updated_at`, read in `(:updated_at, :id)` order and paged
    by that key (see paging.py: `$offset` would skip rows revised mid-run). Each run
    re-reads `overlap_seconds` before the saved cursor and merges on `id`, so a revision the
    portal stamped late is still picked up. `range_start="open"` keeps the cursor boundary
    linear: dlt's boundary de-duplication is quadratic when thousands of rows share the last
    timestamp, as Socrata's bulk revisions do; the overlap and the merge make it unnecessary.
    """
    client = client_config(base_url, app_token, request_timeout, max_attempts, backoff_factor)
    crimes = crimes_config(page_size, overlap_seconds, initial_value)
    resources = rest_api_resources({"client": client, "resources": [crimes]})
    for resource in resources:
        resource.add_step(PageToArrow(CRIMES_COLUMNS))  # declared columns -> typed Arrow
        resource.add_step(SplitRejects(resource.table_name))  # bad rows -> crimes_rejects
    return resources


def client_config(
    base_url: str, app_token: str | None, request_timeout: float, max_attempts: int,
    backoff_factor: float,
) -> dict:
    """rest_api's client: timeouts and retries on every request, the token as a header."""
    http = Client(
        request_timeout=request_timeout,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        raise_for_status=False,  # rest_api raises after the response hooks, with the body
    )
    client: dict = {"base_url": base_url.rstrip("/") + "/", "session": http.session}
    if app_token:
        client["auth"] = {"type": "api_key", "name": "X-App-Token", "api_key": app_token,
                          "location": "header"}
    return client


def crimes_config(page_size: int, overlap_seconds: float, initial_value: str) -> dict:
    """The crimes resource as a rest_api configuration."""
    return {
        "name": "crimes",
        "primary_key": "id",
        "write_disposition": "merge",
        "columns": CRIMES_COLUMNS,
        "endpoint": {
            "path": f"resource/{CRIMES_DATASET_ID}.json",
            "params": {
                "$select": ":*,*",
                "$where": ":updated_at > '{incremental.start_value}'",
                "$order": ":updated_at,:id",
            },
            "incremental": {
                "cursor_path": "socrata_updated_at",  # named by PageToArrow
                "initial_value": ensure_pendulum_datetime(initial_value),
                "convert": soql_timestamp,
                "lag": overlap_seconds,
                "range_start": "open",
            },
            "paginator": SocrataKeysetPaginator(limit=min(page_size, MAX_PAGE_SIZE)),
            "response_actions": [check_page],
        },
    }


def explain_failure(err: BaseException) -> SocrataError | None:
    """The Chicago source's clear error for a failed run, or None."""
    return explain(err, f"crimes ({CRIMES_DATASET_ID})")


def load_chicago(
    pipeline: dlt.Pipeline | None = None,
    credentials: str | None = None,
    loader_file_format: str | None = None,
    **source_args: object,
) -> LoadInfo:
    """Loads the Chicago source into `raw_chicago`; returns dlt's load info.

    An HTTP failure surfaces as a SocrataError naming the dataset, URL and status.
    """
    pipeline = pipeline or postgres_pipeline("chicago")
    return run_source(
        pipeline,
        chicago_source(**source_args),
        credentials=credentials,
        explain=explain_failure,
        **({"loader_file_format": loader_file_format} if loader_file_format else {}),
    )
