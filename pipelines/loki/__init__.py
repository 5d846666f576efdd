"""Grafana Loki: log lines of a LogQL stream selector, loaded incrementally into
`raw_logs.lines` with dlt (`pulse load loki`), each also parsed as a web request into
`raw_logs.requests`, or kept with its reason in `raw_logs.request_rejects`
(access_log.py: `log_format`).

Loki's `query_range` has no page token: a page is the `limit` oldest lines of a time range
(`direction=forward`, `start` inclusive, `end` exclusive, nanoseconds). So the source pages
by time (paging.py): the next page starts at the newest timestamp of the last one, and the
lines of that timestamp it already read are skipped, so lines sharing a timestamp across a
page boundary are read once. Each line's key is its stream's labels, its timestamp and a
hash of the line (`line_id`): what Loki itself keeps one copy of.

Between runs dlt's incremental keeps the newest timestamp loaded, committed with the load.
The next run starts `overlap_seconds` before it, however long ago that was (Loki accepts
lines out of order within a window), and the overlap's lines merge on `line_id` instead
of loading twice; only the first run starts `backfill_hours` ago. Every run reads up to
the moment it started (`end`), so a run always ends, in windows of `window_hours` (Loki
refuses a range longer than its `max_query_length`).

Configuration, under `[sources.loki]` (or SOURCES__LOKI__*): `base_url`, `query`,
`log_format` (access_log.py), `limit`, `backfill_hours`, `overlap_seconds`,
`window_hours`, `tenant_id` (X-Scope-OrgID); secrets: `username`/`password` (basic auth)
or `bearer_token`, in the environment or .dlt/secrets.toml, never in `base_url` (dlt
keeps config values in its run trace).
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import dlt
import orjson
import pyarrow as pa
from dlt.common.pipeline import LoadInfo
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth, HttpBasicAuth
from requests.exceptions import RequestException

from pipelines.load import HTTP_RETRY, SourceError, causes, postgres_pipeline, run_source
from pipelines.urls import safe_url, split_credentials

from .access_log import LogFormatError, Parser, parse_page, parser
from .paging import LokiTimePaginator, check_response

__all__ = ["LokiError", "load_loki", "loki_pipeline", "loki_source"]

SOURCE_NAME = "loki"  # config under [sources.loki]
DATASET = "logs"  # the raw schema is raw_logs
QUERY_PATH = "/loki/api/v1/query_range"
LINE_COLUMNS = {
    "line_id": {"data_type": "text", "nullable": False},
    "ts_ns": {"data_type": "bigint", "nullable": False},
    "logged_at": {"data_type": "timestamp", "nullable": False, "precision": 6},
    "labels": {"data_type": "text", "nullable": False},
    "line": {"data_type": "text", "nullable": False},
}


_REJECT_HINTS = dlt.mark.make_hints(table_name="request_rejects", write_disposition="merge",
                                    primary_key="line_id",
                                    columns={"line_id": {"data_type": "text", "nullable": False}})


T = TypeVar("T")


class LokiError(SourceError):
    pass


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def loki_source(
    base_url: str = dlt.config.value,
    query: str = dlt.config.value,
    log_format: str = "combined",
    limit: int = 5000,
    backfill_hours: float = 24.0,
    overlap_seconds: float = 300.0,
    window_hours: float = 24.0,
    tenant_id: str | None = None,
    username: str | None = None,
    password: str | None = dlt.secrets.value,
    bearer_token: str | None = dlt.secrets.value,
    request_timeout: float = 60.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
) -> DltResource:
    """The `lines` resource: every line `query` selects, from `backfill_hours` ago on the
    first run, then from where the last run ended (less `overlap_seconds`); and `requests`,
    those lines parsed in `log_format`."""
    try:
        parse = parser(log_format)  # a bad format fails here, before any request
    except LogFormatError as err:
        raise LokiError(str(err), retriable=False) from None
    if limit < 1 or window_hours <= 0 or overlap_seconds < 0:
        raise LokiError(f"limit ({limit}) must be at least 1, window_hours ({window_hours}) "
                        f"above 0 and overlap_seconds ({overlap_seconds}) not negative "
                        "(SOURCES__LOKI__*)", retriable=False)
    if split_credentials(base_url)[1] is not None:
        raise LokiError(f"base_url {safe_url(base_url)} carries a user and password: put them in "
                        "SOURCES__LOKI__USERNAME and SOURCES__LOKI__PASSWORD (or "
                        ".dlt/secrets.toml) instead, which are kept out of dlt's trace",
                        retriable=False)
    base_url = base_url.rstrip("/")
    auth = (BearerTokenAuth(bearer_token) if bearer_token
            else HttpBasicAuth(username, password) if username else None)
    http = Client(request_timeout=request_timeout, request_max_attempts=max_attempts,
                  request_backoff_factor=backoff_factor, raise_for_status=False, **HTTP_RETRY)
    headers = {"X-Scope-OrgID": tenant_id} if tenant_id else {}
    client = RESTClient(base_url=base_url, session=http.session, auth=auth, headers=headers)
    span = Span(end_ns=time.time_ns(), backfill_ns=int(backfill_hours * 3600e9),
                window_ns=int(window_hours * 3600e9))
    # No initial_value: dlt would clamp every later start to it, and initial_value moves
    # with the clock, so a pause longer than the backfill would skip lines. `lines` starts
    # the first run itself.
    raw = lines(client, query, limit, span, base_url,
                cursor=dlt.sources.incremental("ts_ns", lag=int(overlap_seconds * 1e9),
                                               range_start="open"))
    return [raw, raw | requests(parse)]


@dataclass(frozen=True)
class Span:
    """What one run reads: up to `end_ns` (when it started), in windows of `window_ns`,
    and, on a first run, from `backfill_ns` before that."""
    end_ns: int
    backfill_ns: int
    window_ns: int


@dlt.resource(name="lines", primary_key="line_id", write_disposition="merge",
              columns=LINE_COLUMNS)
def lines(client: RESTClient, query: str, limit: int, span: Span, base_url: str,
          cursor: dlt.sources.incremental[int] = dlt.sources.incremental("ts_ns"),  # noqa: B008
          ) -> Iterator[pa.Table]:
    # start_value is the last run's newest timestamp less the overlap (dlt's lag)
    start_ns = (int(cursor.start_value) if cursor.start_value is not None
                else span.end_ns - span.backfill_ns)
    where = f"{safe_url(base_url)}{QUERY_PATH} query {query!r}"

    def pages() -> Iterator[tuple[int, int, list[dict]]]:
        for window_start in range(start_ns, span.end_ns, span.window_ns):
            window_end = min(window_start + span.window_ns, span.end_ns)
            paginator = LokiTimePaginator(window_start, window_end, limit, where)
            for streams in client.paginate(QUERY_PATH,
                                           params={"query": query, "direction": "forward"},
                                           paginator=paginator, data_selector="data.result",
                                           hooks={"response": [check_response(where)]}):
                yield window_start, window_end, streams

    boundary_ts, seen_at_boundary = None, set()
    try:
        # the next page is asked for while this one is turned into rows (read_ahead)
        for window_start, window_end, streams in read_ahead(pages()):
            # a server that answers outside the range asked for is not trusted with it
            rows = [r for r in page_rows(streams) if window_start <= r[1] < window_end]
            if boundary_ts is not None:  # the last page's newest timestamp is read again
                rows = [r for r in rows
                        if r[1] != boundary_ts or r[0] not in seen_at_boundary]
            if rows:
                newest = max(r[1] for r in rows)
                keys = {r[0] for r in rows if r[1] == newest}
                seen_at_boundary = seen_at_boundary | keys if newest == boundary_ts else keys
                boundary_ts = newest
                yield lines_table(rows)
    except RequestException as err:
        raise LokiError(f"{_answer(err)} for {where}. Nothing of this run was saved") from None


_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items` as they come, produced in a thread of their own up to `depth` ahead: the next
    page is requested, answered and decoded while this one is processed, so Loki's time
    to answer overlaps Pulse's work on the last answer. The same requests in the same
    order; an error of the producer (a refusal, the last retry) is raised here, in turn."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return  # the reader stopped: no more requests
        except BaseException as err:  # noqa: BLE001 (raised again in the reader)
            put((_DONE, err))
            return
        put((_DONE, None))

    producer = threading.Thread(target=produce, name="loki-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, err = ready.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        producer.join()


def _answer(err: RequestException) -> str:
    if err.response is None:
        return f"Loki did not answer ({type(err).__name__}) after every retry; run again later"
    status, said = err.response.status_code, err.response.text.strip()[:300]
    if status == 429 or status >= 500:  # the statuses dlt's client retries
        return f"Loki answered {status} after every retry ({said}); run again later"
    return f"Loki answered {status} ({said}); check SOURCES__LOKI__BASE_URL"


# No column hints beyond the key: the rejects go through the same transformer as a table
# variant, which would inherit them.
@dlt.transformer(name="requests", primary_key="line_id", write_disposition="merge")
def requests(page: pa.Table, parse: Parser) -> Iterator[pa.Table]:
    """Each line of a page parsed as a web request (`raw_logs.requests`), or kept with its
    reason in `raw_logs.request_rejects`: a line is never dropped."""
    parsed, rejected = parse_page(page, parse)
    if parsed.num_rows:
        yield parsed
    if rejected.num_rows:
        yield dlt.mark.with_hints(rejected, _REJECT_HINTS, create_table_variant=True)


def line_id(labels_json: bytes, ts_ns: str, line: str) -> str:
    """The key Loki itself deduplicates on: the stream, the timestamp and the line."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (labels_json, ts_ns.encode(), line.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


_LENGTH = struct.Struct("<Q").pack  # a part's length before it, as `line_id` hashes it


def page_rows(streams: list[dict]) -> list[tuple[str, int, str, str]]:
    """(line_id, ts_ns, labels as JSON, line) of a page's streams. The ids are `line_id`'s,
    hashed in one call per line (the stream's part once per stream)."""
    rows = []
    blake2b, length = hashlib.blake2b, _LENGTH
    for stream in streams:
        labels = orjson.dumps(stream.get("stream") or {}, option=orjson.OPT_SORT_KEYS)
        labels_text = labels.decode()
        prefix = length(len(labels)) + labels
        # [ts, line], or [ts, line, {structured metadata}] from Loki 3 when asked for it
        for ts, line, *_ in stream.get("values") or []:
            stamp, text = ts.encode(), line.encode("utf-8", "surrogatepass")
            key = blake2b(b"".join((prefix, length(len(stamp)), stamp, length(len(text)), text)),
                          digest_size=16).hexdigest()
            rows.append((key, int(ts), labels_text, line))
    return rows


def lines_table(rows: list[tuple[str, int, str, str]]) -> pa.Table:
    ids, stamps, labels, texts = zip(*rows, strict=True)
    ts = pa.array(stamps, type=pa.int64())
    return pa.table({
        "line_id": pa.array(ids, type=pa.string()),
        "ts_ns": ts,
        # microseconds in Postgres; ts_ns keeps the nanoseconds
        "logged_at": ts.cast(pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("us", tz="UTC"),
                                                                 safe=False),
        "labels": pa.array(labels, type=pa.string()),
        "line": pa.array(texts, type=pa.string()),
    })


def loki_pipeline(pipelines_dir=None) -> dlt.Pipeline:
    return postgres_pipeline(DATASET, pipelines_dir, pipeline_name=SOURCE_NAME)


def explain_failure(err: BaseException) -> LokiError | None:
    for cause in causes(err):
        if isinstance(cause, LokiError):
            return cause
    return None


def load_loki(pipelines_dir=None, **source_args) -> LoadInfo:
    """One incremental load of the configured query into raw_logs.lines."""
    return run_source(loki_pipeline(pipelines_dir), loki_source(**source_args),
                      explain=explain_failure)
