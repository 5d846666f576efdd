"""Where drained events go: Postgres `raw_events` (through dlt) and a Parquet lake.

Each sink takes a batch of whole spool segments and must be idempotent per segment: the
drain deletes a segment only after every sink committed it, so a drain killed in between
delivers the segment again. Postgres remembers the segments it loaded (`raw_events.
drained_segments`, committed by the same dlt load as their rows); the lake names each file
after its segment, so writing it again replaces it with the same bytes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlparse

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipelines.load import postgres_pipeline, run_source
from pulse import roles

SOURCE_NAME = "events"

_TS = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema([
    ("message_id", pa.string()), ("source", pa.string()), ("type", pa.string()),
    ("event", pa.string()), ("event_type_id", pa.int16()), ("user_id", pa.string()),
    ("anonymous_id", pa.string()), ("group_id", pa.string()), ("previous_id", pa.string()),
    ("timestamp", _TS), ("sent_at", _TS), ("received_at", _TS), ("event_at", _TS),
    ("properties", pa.string()), ("traits", pa.string()), ("context", pa.string()),
    ("payload", pa.string()), ("segment", pa.string()),
])
BAD_EVENT_SCHEMA = pa.schema([
    ("message_id", pa.string()), ("source", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()), ("item_index", pa.int32()), ("received_at", _TS),
    ("payload", pa.string()), ("segment", pa.string()),
])
SEGMENT_SCHEMA = pa.schema([("segment", pa.string()), ("events", pa.int64()),
                            ("bad_events", pa.int64())])



@dataclass
class Batch:
    """Whole segments' events and bad events, as Arrow tables."""
    segments: list[str]
    events: pa.Table
    bad_events: pa.Table

    def counts(self) -> pa.Table:
        def per_segment(table: pa.Table) -> dict[str, int]:
            if not table.num_rows:
                return {}
            grouped = table.group_by("segment").aggregate([("segment", "count")])
            return dict(zip(grouped["segment"].to_pylist(), grouped["segment_count"].to_pylist(),
                            strict=True))
        good, bad = per_segment(self.events), per_segment(self.bad_events)
        return pa.table({"segment": self.segments,
                         "events": [good.get(s, 0) for s in self.segments],
                         "bad_events": [bad.get(s, 0) for s in self.segments]},
                        schema=SEGMENT_SCHEMA)


class PostgresSink:
    """raw_events.events, raw_events.bad_events and raw_events.drained_segments, one dlt
    load per batch (the loader role, the load lock of pipelines/load.py)."""

    name = "postgres"

    def __init__(self, pipelines_dir=None):
        self.pipeline = postgres_pipeline(SOURCE_NAME, pipelines_dir)

    def committed(self, segments: list[str]) -> set[str]:
        """The segments a committed load already holds (the warehouse is the record)."""
        import psycopg

        url = roles.url("loader", raw_dataset=self.pipeline.dataset_name)
        with psycopg.connect(url) as conn:
            (exists,) = conn.execute("select to_regclass('raw_events.drained_segments') is not null "
                                     "and to_regclass('raw_events._dlt_loads') is not null"
                                     ).fetchone()
            if not exists:
                return set()
            rows = conn.execute(
                "select d.segment from raw_events.drained_segments as d "
                "join raw_events._dlt_loads as l on l.load_id = d._dlt_load_id and l.status = 0 "
                "where d.segment = any(%s)", (segments,)).fetchall()
        return {segment for (segment,) in rows}

    def write(self, batch: Batch) -> None:
        if self.pipeline.has_pending_data:
            # A drain killed during its load left a package: run_source finishes it before
            # anything else, so do that first, or the check below would miss its segments.
            run_source(self.pipeline, dlt.resource([], name="drained_segments"))
        done = self.committed(batch.segments)
        if done:
            keep = [s for s in batch.segments if s not in done]
            if not keep:
                return
            batch = Batch(keep, _only(batch.events, keep), _only(batch.bad_events, keep))

        @dlt.source(name=SOURCE_NAME)
        def drained():
            # properties, traits and context are JSON text (the collector wrote them, so
            # they parse); staging casts them to jsonb. An empty table is not yielded: ADBC
            # cannot COPY an empty Parquet file, and the package would fail every retry.
            tables = {"events": batch.events, "bad_events": batch.bad_events,
                      "drained_segments": batch.counts()}
            for name, table in tables.items():
                if table.num_rows:
                    yield dlt.resource(table, name=name, write_disposition="append")

        run_source(self.pipeline, drained())
        self._index_loads()

    def _index_loads(self) -> None:
        """The staging model reads the loads it has not seen (`_dlt_load_id >` its newest):
        with this index that is a range scan, not a pass over every event."""
        import psycopg

        url = roles.url("loader", raw_dataset=self.pipeline.dataset_name)
        with psycopg.connect(url, autocommit=True) as conn:
            for table in ("events", "bad_events"):
                (has_table, has_index) = conn.execute(
                    "select to_regclass(%s) is not null, to_regclass(%s) is not null",
                    (f"raw_events.{table}", f"raw_events.{table}__dlt_load_id")).fetchone()
                # checked first: CREATE INDEX locks out loads even if it exists
                if has_table and not has_index:
                    conn.execute(f"create index if not exists {table}__dlt_load_id "
                                 f"on raw_events.{table} (_dlt_load_id)")


def _only(table: pa.Table, segments: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table["segment"], value_set=pa.array(segments)))


class LakeSink:
    """Parquet files under `events/dt=YYYY-MM-DD/` (the event date, UTC) and
    `bad_events/dt=.../`, one file per segment and date, in a local folder or an
    S3-compatible bucket (`s3://bucket/prefix`; endpoint and keys from the environment:
    PULSE_LAKE_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
    Hive-style partitions, so DuckDB, Spark, Trino and Athena read it unchanged."""

    name = "lake"

    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = lake_filesystem(url)

    def write(self, batch: Batch) -> None:
        for table_name, table, date_column in (("events", batch.events, "event_at"),
                                               ("bad_events", batch.bad_events, "received_at")):
            if not table.num_rows:
                continue
            dates = pc.strftime(table[date_column], format="%Y-%m-%d")
            groups: dict[tuple[str, str], list[int]] = defaultdict(list)
            for index, (date, segment) in enumerate(zip(dates.to_pylist(),
                                                        table["segment"].to_pylist(), strict=True)):
                groups[(date, segment)].append(index)
            for (date, segment), rows in groups.items():
                folder = f"{self.root}/{table_name}/dt={date}"
                self.fs.create_dir(folder, recursive=True)
                write_parquet(self.fs, f"{folder}/{segment}.parquet", table.take(rows))


def write_parquet(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    """`table` as zstd Parquet at `path`, all or nothing: a reader never sees half a file."""
    if isinstance(fs, pafs.LocalFileSystem):
        # written aside, fsynced, then renamed
        temporary = f"{path}.tmp"
        pq.write_table(table, temporary, compression="zstd")
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    else:  # an S3 PUT is atomic
        pq.write_table(table, path, filesystem=fs, compression="zstd")


def lake_filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        endpoint = os.environ.get("PULSE_LAKE_S3_ENDPOINT")
        options = {"region": os.environ.get("AWS_REGION", "us-east-1")}
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options.update(endpoint_override=endpoint_url.netloc or endpoint_url.path,
                           scheme=endpoint_url.scheme or "https")
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            options.update(access_key=os.environ["AWS_ACCESS_KEY_ID"],
                           secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        return pafs.S3FileSystem(**options), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"the lake URL {url!r} is neither a folder nor s3://bucket/prefix")
    path = os.path.abspath(parsed.path if parsed.scheme == "file" else url)
    os.makedirs(path, exist_ok=True)
    return pafs.LocalFileSystem(), path
