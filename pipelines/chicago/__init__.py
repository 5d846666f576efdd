"""City of Chicago open data (Socrata SODA 2.1), loaded incrementally with dlt's rest_api.

What is loaded is declared in datasets.yml (see settings.py); each dataset loads through
a pipeline of its own, so a failing dataset never holds up the others and two schedules
never share local dlt state. Run it on its own with `python -m pipelines.chicago`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.time import ensure_pendulum_datetime
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.rest_api import rest_api_resources

from pipelines import load
from pipelines.load import HTTP_RETRY, postgres_pipeline
from pipelines.urls import basic_auth_header, split_credentials

from .arrow import PageToArrow, SplitRejects
from .boundaries import boundary_resource
from .cursor import CURSOR, FUTURE_TOLERANCE_SECONDS, FutureCursorGuard
from .helpers import SocrataError, check_page, explain, soql_timestamp
from .paging import SocrataKeysetPaginator
from .settings import MAX_PAGE_SIZE, PORTAL_URL, Dataset, load_datasets
from .unchanged import SkipLoadedVersions

__all__ = ["SocrataError", "chicago_source", "dataset_pipeline", "dataset_source",
           "load_chicago", "load_dataset"]

log = logging.getLogger(__name__)
SOURCE_NAME = "chicago"  # the raw schema is raw_chicago; config lives under [sources.chicago]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def chicago_source(
    datasets: Sequence[str] | None = None,
    base_url: str = PORTAL_URL,
    app_token: str | None = dlt.secrets.value,
    page_size: int = MAX_PAGE_SIZE,
    overlap_seconds: float = 60.0,
    future_tolerance_seconds: float = FUTURE_TOLERANCE_SECONDS,
    initial_value: str = "2001-01-01T00:00:00.000Z",
    request_timeout: float = 60.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
) -> list[DltResource]:
    """The declared Chicago datasets (all, or those named in `datasets`) as dlt resources.

    Every value is dlt configuration under `[sources.chicago]` (for example
    `SOURCES__CHICAGO__BASE_URL`); the app token is a secret (`SOURCES__CHICAGO__APP_TOKEN`)
    sent as the `X-App-Token` header, so it never appears in a URL or a log line.

    Row datasets follow the platform's `:updated_at`, read in `(:updated_at, :id)` order and
    paged by that key (see paging.py: `$offset` would skip rows revised mid-run). Each run
    re-reads `overlap_seconds` before the saved cursor and merges on the primary key, so a
    revision the portal stamped late is still picked up. `range_start="open"` keeps the
    cursor boundary linear: dlt's boundary de-duplication is quadratic when thousands of
    rows share the last timestamp, as Socrata's bulk revisions do; the overlap and the merge
    make it unnecessary. A row stamped later than now + `future_tolerance_seconds` is
    rejected and never moves the cursor; a cursor already stored in the future is
    reported and moved back (cursor.py). Boundary layers are replaced whole when they
    change (boundaries.py).
    """
    declared = load_datasets()
    unknown = sorted(set(datasets or ()) - set(declared))
    if unknown:
        raise ValueError(f"unknown Chicago dataset(s) {', '.join(unknown)}; declared: "
                         f"{', '.join(declared)} (pipelines/chicago/datasets.yml)")
    chosen = [declared[name] for name in (datasets or declared)]
    http = Client(
        request_timeout=request_timeout,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        raise_for_status=False,  # rest_api raises after the response hooks, with the body
        **HTTP_RETRY,
    )
    # user:password in the base URL (a proxy's) travel as a header, never in a URL that
    # dlt logs or an error repeats
    base_url, basic = split_credentials(base_url.rstrip("/") + "/")
    if basic:
        http.session.headers.update(basic_auth_header(basic))
    headers = {"X-App-Token": app_token} if app_token else {}
    rows = [rows_config(d, page_size, overlap_seconds, initial_value) for d in chosen
            if not d.is_boundary]
    resources = []
    if rows:
        resources = rest_api_resources({"client": client_config(base_url, app_token, http),
                                        "resources": rows})
    for resource in resources:
        dataset = declared[resource.name]
        # declared columns -> typed Arrow; bad rows -> <table>_rejects
        resource.add_step(PageToArrow(dataset.columns, primary_key=dataset.primary_key,
                                      future_tolerance_seconds=future_tolerance_seconds))
        resource.add_step(FutureCursorGuard(f"{dataset.name} ({dataset.id})", resource.table_name,
                                            future_tolerance_seconds))
        # the overlap's rows raw holds at the same version are not loaded again
        resource.add_step(SkipLoadedVersions(resource.table_name, dataset.primary_key))
        resource.add_step(SplitRejects(resource.table_name, primary_key=dataset.primary_key))
    resources += [boundary_resource(d, base_url, http.session, headers, request_timeout)
                  for d in chosen if d.is_boundary]
    return resources


def client_config(base_url: str, app_token: str | None, http: Client) -> dict:
    """rest_api's client: timeouts and retries on every request, the token as a header."""
    client: dict = {"base_url": base_url, "session": http.session}
    if app_token:
        client["auth"] = {"type": "api_key", "name": "X-App-Token", "api_key": app_token,
                          "location": "header"}
    return client


def rows_config(dataset: Dataset, page_size: int, overlap_seconds: float,
                initial_value: str) -> dict:
    """A rows dataset as a rest_api resource: incremental on :updated_at, merged on its key."""
    return {
        "name": dataset.name,
        "primary_key": dataset.primary_key,
        "write_disposition": "merge",
        "columns": dataset.columns,
        "endpoint": {
            "path": f"resource/{dataset.id}.json",
            "params": {
                "$select": ":*,*",
                "$where": ":updated_at > '{incremental.start_value}'",
                "$order": ":updated_at,:id",
            },
            "incremental": {
                "cursor_path": CURSOR,  # socrata_updated_at, named by PageToArrow
                "initial_value": ensure_pendulum_datetime(initial_value),
                "convert": soql_timestamp,
                "lag": overlap_seconds,
                "range_start": "open",
                # a row without :updated_at passes with its cursor null (no move) and is
                # rejected by SplitRejects; dlt's default would fail the run for good
                "on_cursor_value_missing": "include",
            },
            "paginator": SocrataKeysetPaginator(limit=min(page_size, MAX_PAGE_SIZE),
                                                dataset=f"{dataset.name} ({dataset.id})"),
            "response_actions": [check_page],
        },
    }


def dataset_source(name: str, **source_args: object):
    """One dataset as a source of its own; its schema is `chicago_<name>`."""
    return chicago_source.clone(name=pipeline_name(name))(datasets=[name], **source_args)


def pipeline_name(name: str) -> str:
    return f"{SOURCE_NAME}_{name}"


def dataset_pipeline(name: str, pipelines_dir: str | Path | None = None) -> dlt.Pipeline:
    """The dlt pipeline of one dataset: `chicago_<name>`, loading into raw_chicago."""
    return postgres_pipeline(SOURCE_NAME, pipelines_dir, pipeline_name=pipeline_name(name))


def explain_failure(err: BaseException) -> SocrataError | None:
    """The Chicago source's clear error for a failed run, or None."""
    return explain(err, load_datasets())


def load_dataset(
    name: str,
    pipeline: dlt.Pipeline | None = None,
    credentials: str | None = None,
    loader_file_format: str | None = None,
    **source_args: object,
) -> LoadInfo:
    """Loads one declared dataset into `raw_chicago`; returns dlt's load info.

    An HTTP failure surfaces as a SocrataError naming the dataset, URL and status.
    """
    pipeline = pipeline or dataset_pipeline(name)
    return load.run_source(
        pipeline,
        dataset_source(name, **source_args),
        credentials=credentials,
        explain=explain_failure,
        **({"loader_file_format": loader_file_format} if loader_file_format else {}),
    )


def load_chicago(
    datasets: Sequence[str] | None = None,
    credentials: str | None = None,
    pipelines_dir: str | Path | None = None,
    on_loaded: Callable[[str, int, float], None] | None = None,
    **source_args: object,
) -> dict[str, LoadInfo]:
    """Loads every declared dataset (or those named), each through its own pipeline;
    `on_loaded(name, rows, seconds)` hears of each as it finishes (the CLI's progress).

    A dataset that fails does not stop the others; afterwards the failures are raised
    together as one SocrataError (each dataset's message says what to do).
    """
    infos: dict[str, LoadInfo] = {}
    failures: list[SocrataError] = []
    for name in datasets or load_datasets():
        started = time.perf_counter()
        try:
            pipeline = dataset_pipeline(name, pipelines_dir)
            infos[name] = load_dataset(name, pipeline, credentials=credentials, **source_args)
            if on_loaded:
                on_loaded(name, load.rows_loaded(pipeline), time.perf_counter() - started)
        except SocrataError as err:
            log.error("%s", err)
            failures.append(err)
    if failures:
        raise SocrataError("\n".join(map(str, failures)),
                           retriable=all(err.retriable for err in failures))
    return infos
