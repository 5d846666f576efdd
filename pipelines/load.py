"""Shared pipeline plumbing: one way to build a Postgres pipeline and to run it."""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
import requests
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.leftovers import drop_committed_leftovers, mark_committed_jobs
from pulse import locks, roles, warehouse

log = logging.getLogger(__name__)


class _DeclaredTypesKept(logging.Filter):
    """Drops dlt's per-page warning that Arrow and declared column hints differ: Arrow has
    no json type, so json columns travel as text, and keeping the declared type is right."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "several column hints were different" not in record.getMessage()


logging.getLogger("dlt").addFilter(_DeclaredTypesKept())


class SourceError(RuntimeError):
    """A load failed for good, with a message that says what failed, where (the dataset,
    the URL without secrets) and what to do. Each source has its own subclass.

    `retriable` is False when running again cannot help (a bad query, an unknown id, a
    refused token): Dagster then fails the run at once instead of retrying it.
    """

    def __init__(self, message: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


def permanent_network_failure(err: BaseException | None) -> str | None:
    """Why retrying cannot help a request that got no answer, or None when it might: the
    host name does not resolve, the server's certificate is refused, the URL is malformed.
    Waiting out a retry budget on these only delays the message that says what to fix."""
    for cause in causes(err):
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return "the host name does not resolve (a typo in the URL, or no DNS)"
        if isinstance(cause, requests.exceptions.SSLError) or isinstance(cause, ssl.SSLCertVerificationError):
            return "the server's TLS certificate was refused"
        if isinstance(cause, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                              requests.exceptions.MissingSchema)):
            return "the URL is not a valid http(s) URL"
    return None


_TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
              requests.exceptions.ChunkedEncodingError)


def retry_transient(response: object, exception: BaseException | None) -> bool:
    """dlt's retry condition for requests without an answer: a reset, a refused connection
    or a timeout is retried; a permanent_network_failure is not."""
    return isinstance(exception, _TRANSIENT) and permanent_network_failure(exception) is None


# For every source's dlt Client: statuses (429, 5xx) as dlt retries them, exceptions by
# retry_transient instead of dlt's "any ConnectionError" (which includes DNS failures).
HTTP_RETRY = {"exceptions": (), "retry_condition": retry_transient}


def causes(err: BaseException | None) -> Iterator[BaseException]:
    """`err` and every exception it was raised from or during, each once, outermost first."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


# dlt's own tables in every dataset (_dlt_loads, _dlt_version, _dlt_pipeline_state).
DLT_TABLE_PREFIX = "_dlt"


def raw_dataset(source_name: str) -> str:
    """The raw schema of a source: one per upstream system."""
    return f"raw_{source_name}"


def default_pipelines_dir() -> Path:
    """Local dlt state, one folder per warehouse database, beside the warehouse it
    belongs to: the embedded one's under its folder (`PULSE_WAREHOUSE_DIR`), a
    WAREHOUSE_URL's under `.warehouse/dlt/<host>_<port>_<database>`.

    dlt trusts local state that is newer than the destination's, so two databases
    sharing one folder would share cursors: a load into the second would skip rows.
    """
    url = os.environ.get("WAREHOUSE_URL")
    if not url:
        return warehouse.data_dir() / "dlt" / "embedded"
    conn = warehouse.Connection.from_url(url)
    folder = re.sub(r"[^\w.-]+", "_", f"{conn.host}_{conn.port}_{conn.database}")[-100:]
    return warehouse.PROJECT_ROOT / ".warehouse" / "dlt" / folder


# Sources yield Arrow tables: Parquet files loaded by ADBC's binary COPY. dbt reads
# _dlt_load_id (when a row was loaded), which dlt adds to Arrow tables only when asked.
LOADER_FILE_FORMAT = "parquet"
dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
# A replaced table (a boundary layer) is loaded into raw_*_staging and swapped in with one
# transaction; dlt's default truncates first, so a load killed midway left it empty.
dlt.config["destination.replace_strategy"] = "insert-from-staging"


def postgres_pipeline(source_name: str, pipelines_dir: str | Path | None = None,
                      pipeline_name: str | None = None) -> dlt.Pipeline:
    """A dlt pipeline (named `pipeline_name`, default `source_name`) loading `raw_<source_name>`.

    It names no credentials: `run_source` passes the warehouse's URL when it runs, so
    building a pipeline (as Dagster does at definitions load) never starts a server.
    """
    return dlt.pipeline(
        pipeline_name=pipeline_name or source_name,
        destination="postgres",
        dataset_name=raw_dataset(source_name),
        pipelines_dir=str(pipelines_dir or default_pipelines_dir()),
    )


def run_source(
    pipeline: dlt.Pipeline,
    source: object,
    credentials: str | None = None,
    explain: Callable[[BaseException], Exception | None] | None = None,
    **run_kwargs: object,
) -> LoadInfo:
    """Runs `source` into the warehouse; `explain` turns a failure into a clearer error.

    One run per pipeline at a time, wherever it runs: the lock `load_lock_name(pipeline)`
    in the warehouse is held from before the local state is read until the load is
    committed, so a slower run can never merge an older snapshot over a newer one, and
    no run touches another's packages in dlt's working folder.
    """
    run_kwargs.setdefault("loader_file_format", LOADER_FILE_FORMAT)
    # Least privilege: dlt loads as the loader role, which writes only raw_* schemas.
    credentials = credentials or roles.url("loader", raw_dataset=pipeline.dataset_name)
    try:
        with locks.exclusive(credentials, load_lock_name(pipeline)):
            forget_state_the_warehouse_lacks(pipeline, credentials)
            drop_committed_leftovers(pipeline)
            mark_committed_jobs(pipeline, credentials)
            if pipeline.has_pending_data:
                # A run that died left a package: finish it first, or dlt would load only
                # that and skip this run's extract (a success that fetched nothing).
                pipeline.run(credentials=credentials)
            info = pipeline.run(source, credentials=credentials, **run_kwargs)
    except PipelineStepFailed as err:
        clear = explain(err) if explain else None
        if (reason := permanent_network_failure(err)) is not None:
            # Dagster's retry policy would run the load 3 more times: say it once, now.
            kind = type(clear) if isinstance(clear, SourceError) else SourceError
            raise kind(f"{clear or err} Not retried: {reason}.", retriable=False) from err
        if clear:
            raise clear from err
        raise
    for resource, counts in row_paths(pipeline).items():
        log.info("%s.%s: %s", pipeline.dataset_name, resource,
                 ", ".join(f"{n} {path.replace('_', ' ')}" for path, n in counts.items()))
    return info


def load_lock_name(pipeline: dlt.Pipeline) -> str:
    """The warehouse lock a load of `pipeline` holds (pulse/locks.py)."""
    return f"load {pipeline.dataset_name}.{pipeline.pipeline_name}"


def warehouse_state_version(pipeline: dlt.Pipeline, credentials: str) -> int | None:
    """The newest state version the warehouse holds for `pipeline`, or None when its raw
    schema, its state table or any state of this pipeline is missing."""
    import psycopg
    from psycopg import sql

    state_table = sql.Identifier(pipeline.dataset_name, "_dlt_pipeline_state")
    with psycopg.connect(credentials) as conn:
        if not warehouse.table_exists(conn, pipeline.dataset_name, "_dlt_pipeline_state"):
            return None
        (version,) = conn.execute(sql.SQL("select max(version) from {} where pipeline_name = %s")
                                  .format(state_table), (pipeline.pipeline_name,)).fetchone()
    return version


def forget_state_the_warehouse_lacks(pipeline: dlt.Pipeline, credentials: str) -> bool:
    """Drops the local dlt state of a pipeline unless the warehouse holds it too.

    The warehouse is the state of record. dlt trusts local state whenever the raw schema
    exists, so after `drop schema raw_... cascade`, pointed at a new warehouse, or at one
    restored from an older backup, a load would resume from the local cursor and fetch
    only the overlap window (or merge into tables that are gone). So:
    - no state in the warehouse: nothing to resume, start over;
    - an older state there and no load package pending: the local state got ahead of
      what was loaded; dlt restores the warehouse's on the next run;
    - an older state there and a package pending (a run died before its load): keep it,
      `run_source` finishes that package first, and it carries the newer state.
    Returns True when it dropped something.
    """
    if not (pipeline.default_schema_name or pipeline.has_pending_data):
        return False  # nothing local to trust
    stored = warehouse_state_version(pipeline, credentials)
    local = pipeline.state.get("_state_version", 0)
    if stored is None:
        why = f"the warehouse holds no state of it ({pipeline.dataset_name} dropped, or another " \
              "warehouse): the load starts from the beginning"
    elif stored < local and not pipeline.has_pending_data:
        why = f"the warehouse holds an older state of it (version {stored}, local {local}; " \
              "restored from a backup?): the load resumes from the warehouse's"
    else:
        return False
    log.warning("%s: dropping the local dlt state, since %s", pipeline.pipeline_name, why)
    pipeline.drop()
    return True


def row_paths(pipeline: dlt.Pipeline) -> dict[str, dict[str, int]]:
    """How many rows of the last run took each path, per resource: loaded, rejected
    (into `<table>_rejects`) and duplicate keys merged; counted by SplitRejects."""
    trace = pipeline.last_trace
    extract = trace.last_extract_info if trace else None
    paths = ("rows_loaded", "rows_rejected", "duplicate_keys_merged")
    out: dict[str, dict[str, int]] = {}
    for metrics in (extract.metrics.values() if extract else []):
        for resource, m in metrics[0]["resource_metrics"].items():
            custom = m.custom_metrics or {}
            if any(p in custom for p in paths):
                out[resource] = {p: int(custom.get(p, 0)) for p in paths}
    return out


def rows_loaded(pipeline: dlt.Pipeline) -> int:
    """The rows the pipeline's last run normalized into its data tables (dlt's own
    bookkeeping tables not counted): what a progress line reports."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    counts = info.row_counts if info else {}
    return sum(n for table, n in counts.items() if not table.startswith("_dlt"))


def summary(info: LoadInfo) -> str:
    """"<rows> rows in <seconds>s": what a run loaded and how long it took, for a progress
    line (dlt's own LoadInfo text lists packages and jobs, not rows)."""
    trace = info.pipeline.last_trace
    seconds = (trace.finished_at - trace.started_at).total_seconds() \
        if trace and trace.finished_at else 0.0
    return f"{rows_loaded(info.pipeline):,} rows in {seconds:.1f}s"
