"""raw_logs.lines copied into the Parquet lake beside the events (PULSE_LAKE_URL: a folder,
default `lake/` in the warehouse folder, or s3://bucket/prefix), as
`logs/lines/dt=YYYY-MM-DD/hour=HH/lines.parquet` by the hour of Loki's timestamp (UTC).

The warehouse is the state of record and the lake its copy: each copy rewrites, whole,
every hour file that a load since the last copy touched, reading the hour from
raw_logs.lines. A line Loki sent twice (the overlap every load re-reads) is one row
there, so it is one row in the lake; a copy cut short by a crash is redone by the next,
since the watermark (the newest dlt load copied, `logs/lines/_copied_load_id`) moves
only after every file is written. Files are written aside and renamed (or PUT to S3),
so a reader never sees half a file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.fs as pafs

from pipelines.events.sinks import lake_filesystem, write_parquet
from pipelines.loki.indexes import index_raw_logs
from pulse import warehouse

FOLDER = "logs/lines"
WATERMARK = "_copied_load_id"
COLUMNS = "line_id, ts_ns, logged_at, labels, line"


@dataclass(frozen=True)
class LakeCopy:
    hours: int
    lines: int
    seconds: float
    load_id: str | None


def copy_lines_to_lake(lake_url: str, conn: warehouse.Connection) -> LakeCopy:
    """Every hour of raw_logs.lines that a load since the last copy touched, rewritten in
    the lake; returns what was written."""
    started = time.perf_counter()
    fs, root = lake_filesystem(lake_url)
    folder = f"{root}/{FOLDER}"
    fs.create_dir(folder, recursive=True)
    copied = _read_watermark(fs, folder)
    if warehouse.query(conn, "select to_regclass('raw_logs.lines')") == [(None,)]:
        return LakeCopy(0, 0, time.perf_counter() - started, copied)
    index_raw_logs(conn.url())
    (newest,), = warehouse.query(conn, "select max(_dlt_load_id) from raw_logs.lines")
    hours = [hour for (hour,) in warehouse.query(
        conn, "select distinct date_trunc('hour', logged_at, 'UTC') from raw_logs.lines "
              "where _dlt_load_id > %s and _dlt_load_id <= %s order by 1", (copied or "", newest))]
    lines = 0
    for hour in hours:
        hour = hour.astimezone(UTC)
        table = _hour(conn, hour)
        lines += table.num_rows
        _write(fs, f"{folder}/dt={hour:%Y-%m-%d}/hour={hour:%H}", "lines.parquet", table)
    if newest and newest != copied:
        _write_watermark(fs, folder, newest)
    return LakeCopy(len(hours), lines, time.perf_counter() - started, newest)


def _hour(conn: warehouse.Connection, hour: datetime) -> pa.Table:
    rows = warehouse.query(
        conn, f"select {COLUMNS} from raw_logs.lines where logged_at >= %s and logged_at < %s "
              "order by ts_ns, line_id",
        (hour, hour + timedelta(hours=1)))  # aware: compared as instants, whatever the session zone
    ts = pa.timestamp("us", tz="UTC")
    return pa.table({
        "line_id": pa.array([r[0] for r in rows], pa.string()),
        "ts_ns": pa.array([r[1] for r in rows], pa.int64()),
        "logged_at": pa.array([r[2] for r in rows], ts),
        "labels": pa.array([r[3] for r in rows], pa.string()),
        "line": pa.array([r[4] for r in rows], pa.string()),
    })


def _write(fs: pafs.FileSystem, folder: str, name: str, table: pa.Table) -> None:
    fs.create_dir(folder, recursive=True)
    write_parquet(fs, f"{folder}/{name}", table)


def _read_watermark(fs: pafs.FileSystem, folder: str) -> str | None:
    path = f"{folder}/{WATERMARK}"
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as stream:
        return stream.read().decode().strip() or None


def _write_watermark(fs: pafs.FileSystem, folder: str, load_id: str) -> None:
    if isinstance(fs, pafs.LocalFileSystem):
        temporary = f"{folder}/{WATERMARK}.tmp"
        with open(temporary, "w") as handle:
            handle.write(load_id)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, f"{folder}/{WATERMARK}")
    else:
        with fs.open_output_stream(f"{folder}/{WATERMARK}") as stream:
            stream.write(load_id.encode())
