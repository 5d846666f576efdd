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
The next run starts `overlap_seconds` before it (Loki accepts lines out of order within a
window), and the overlap's lines merge on `line_id` instead of loading twice. Every run
reads up to the moment it started (`end`), so a run always ends.

Configuration, under `[sources.loki]` (or SOURCES__LOKI__*): `base_url`, `query`,
`log_format` (access_log.py), `limit`, `backfill_hours`, `overlap_seconds`,
`tenant_id` (X-Scope-OrgID); secrets: `username`/`password` (basic auth) or
`bearer_token`, in the environment or .dlt/secrets.toml.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import dlt
import orjson
import pyarrow as pa
from dlt.common.pipeline import LoadInfo
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth, HttpBasicAuth
from requests.exceptions import RequestException

from pipelines.load import SourceError, causes, postgres_pipeline, run_source
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
    if not 1 <= limit <= 5000:
        raise LokiError(f"limit must be 1 to 5,000 (Loki's max_entries_limit_per_query "
                        f"default), not {limit} (SOURCES__LOKI__LIMIT)", retriable=False)
    base_url, basic = split_credentials(base_url.rstrip("/"))
    auth = (BearerTokenAuth(bearer_token) if bearer_token
            else HttpBasicAuth(username, password) if username
            else basic)
    http = Client(request_timeout=request_timeout, request_max_attempts=max_attempts,
                  request_backoff_factor=backoff_factor, raise_for_status=False)
    headers = {"X-Scope-OrgID": tenant_id} if tenant_id else {}
    client = RESTClient(base_url=base_url, session=http.session, auth=auth, headers=headers)
    now_ns = time.time_ns()
    initial = now_ns - int(backfill_hours * 3600 * 1e9)
    raw = lines(client, query, limit, now_ns, base_url,
                cursor=dlt.sources.incremental("ts_ns", initial_value=initial,
                                               lag=int(overlap_seconds * 1e9), range_start="open"))
    return [raw, raw | requests(parse)]


@dlt.resource(name="lines", primary_key="line_id", write_disposition="merge",
              columns=LINE_COLUMNS)
def lines(client: RESTClient, query: str, limit: int, end_ns: int, base_url: str,
          cursor: dlt.sources.incremental[int] = dlt.sources.incremental("ts_ns"),  # noqa: B008
          ) -> Iterator[pa.Table]:
    start_ns = int(cursor.start_value)
    where = f"{safe_url(base_url)}{QUERY_PATH} query {query!r}"
    if start_ns >= end_ns:
        return
    paginator = LokiTimePaginator(start_ns, end_ns, limit, where)
    boundary_ts, seen_at_boundary = None, set()
    try:
        for streams in client.paginate(QUERY_PATH, params={"query": query, "direction": "forward"},
                                       paginator=paginator, data_selector="data.result",
                                       hooks={"response": [check_response(where)]}):
            rows = page_rows(streams)
            if boundary_ts is not None:  # the last page's newest timestamp is read again
                rows = [r for r in rows if r[1] != boundary_ts or r[0] not in seen_at_boundary]
            if rows:
                newest = max(r[1] for r in rows)
                keys = {r[0] for r in rows if r[1] == newest}
                seen_at_boundary = seen_at_boundary | keys if newest == boundary_ts else keys
                boundary_ts = newest
                yield lines_table(rows)
    except RequestException as err:
        answer = (f"answered {err.response.status_code} after every retry "
                  f"({err.response.text.strip()[:300]})" if err.response is not None
                  else f"did not answer ({type(err).__name__})")
        raise LokiError(f"Loki {answer} for {where}. Nothing of this run was saved; run it "
                        "again later") from None


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


def page_rows(streams: list[dict]) -> list[tuple[str, int, str, str]]:
    """(line_id, ts_ns, labels as JSON, line) of a page's streams."""
    rows = []
    for stream in streams:
        labels = orjson.dumps(stream.get("stream") or {}, option=orjson.OPT_SORT_KEYS)
        labels_text = labels.decode()
        # [ts, line], or [ts, line, {structured metadata}] from Loki 3 when asked for it
        for ts, line, *_ in stream.get("values") or []:
            rows.append((line_id(labels, ts, line), int(ts), labels_text, line))
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
