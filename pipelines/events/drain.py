"""The drain: sealed spool segments -> every configured sink -> deleted.

A segment is deleted only after every sink committed it; a sink that fails is retried
(3 times, with backoff, by default) and the drain then stops with the segment kept, so a
sink that is down for minutes delays events and loses none. Sinks are idempotent per
segment (sinks.py), so a drain killed after a commit and before the delete duplicates
nothing. One drain at a time per spool (a lock file beside the segments).

`pulse load events` runs it by hand; Dagster runs it as the `events_drain` asset.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from collector import fastjson
from collector.spool import (
    CorruptSegment,
    Spool,
    SpoolLocked,
    fsync_dir,
    read_records,
    segment_paths,
)

from .sinks import BAD_EVENT_SCHEMA, EVENT_SCHEMA, Batch

log = logging.getLogger(__name__)


class DrainError(RuntimeError):
    pass


@dataclass
class DrainSettings:
    spool_dir: Path
    batch_events: int = 50  # drain once this many events wait ...
    max_wait_seconds: float = 30.0  # ... or the oldest has waited this long
    max_batch_bytes: int = 64 << 20  # segments per sink call, by their size on disk
    retries: int = 3
    backoff_seconds: float = 1.0


@dataclass
class DrainResult:
    segments: int = 0
    events: int = 0
    bad_events: int = 0
    seconds: float = 0.0
    bad_reasons: Counter = field(default_factory=Counter)
    corrupt: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was drained, when nothing was


_TIMES = ("timestamp", "sent_at", "received_at", "event_at")


def _table(rows: list[dict], segments: list[str], schema: pa.Schema) -> pa.Table:
    """Rows as the collector wrote them (times as ISO text, JSON columns as text) in
    `schema`'s types, with the segment each came from."""
    as_text = pa.schema([pa.field(f.name, pa.string()) if f.name in _TIMES else f
                         for f in schema if f.name != "segment"])
    table = pa.Table.from_pylist(rows, schema=as_text)
    for name in _TIMES:
        if name in table.column_names:
            # the collector wrote them with isoformat(): Arrow parses ISO 8601 with its offset
            index = table.column_names.index(name)
            table = table.set_column(index, name, table[name].cast(pa.timestamp("us", tz="UTC")))
    return table.append_column("segment", pa.array(segments, type=pa.string()))


def read_batch(paths: list[Path]) -> tuple[Batch, list[str]]:
    """The events of these sealed segments as one Batch, and the corrupt segments left out
    (moved to corrupt/ by the caller: a disk fault, never a crash, makes one)."""
    events, bad, event_segments, bad_segments = [], [], [], []
    segments, corrupt = [], []
    for path in paths:
        try:
            records = [fastjson.loads(r) for r in read_records(path)]
        except (CorruptSegment, ValueError) as err:
            log.error("%s", err)
            corrupt.append(path.name)
            continue
        segment = path.stem
        segments.append(segment)
        for record in records:
            events += record["events"]
            bad += record["bad"]
            event_segments += [segment] * len(record["events"])
            bad_segments += [segment] * len(record["bad"])
    return (Batch(segments, _table(events, event_segments, EVENT_SCHEMA),
                  _table(bad, bad_segments, BAD_EVENT_SCHEMA)), corrupt)


@contextmanager
def _drain_lock(folder: Path) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "DRAIN_LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def recover_if_collector_stopped(folder: Path) -> None:
    """Seal what a stopped (or killed) collector left open, as its next start would; a
    running collector holds the spool's lock and seals its own segments."""
    try:
        with Spool(folder):
            pass
    except SpoolLocked:
        pass


def waiting_events(folder: Path, stop_at: int) -> tuple[int, float]:
    """(events and bad events in sealed segments, counted up to `stop_at`; age in seconds
    of the oldest segment): what the Dagster sensor asks before starting a drain."""
    paths = segment_paths(Path(folder))
    count = 0
    for path in paths:
        try:
            for record in read_records(path):
                doc = fastjson.loads(record)
                count += len(doc["events"]) + len(doc["bad"])
                if count >= stop_at:
                    break
        except (CorruptSegment, ValueError):
            count += 1  # the drain sets it aside; a run is needed for that too
        if count >= stop_at:
            break
    oldest = max(0.0, time.time() - int(paths[0].stem) / 1e9) if paths else 0.0
    return count, oldest


def drain(settings: DrainSettings, sinks: list, *, max_segments: int | None = None) -> DrainResult:
    """Deliver every sealed segment to every sink, oldest first, then delete it."""
    started = time.perf_counter()
    result = DrainResult()
    folder = Path(settings.spool_dir)
    with _drain_lock(folder) as mine:
        if not mine:
            result.skipped = "another drain is running on this spool"
            return result
        recover_if_collector_stopped(folder)
        paths = segment_paths(folder)[:max_segments]
        for group in _groups(paths, settings.max_batch_bytes):
            batch, corrupt = read_batch(group)
            for name in corrupt:
                _quarantine(folder, name)
            result.corrupt += corrupt
            for sink in sinks:
                _with_retries(sink, batch, settings)
            for path in group:
                if path.name not in corrupt:
                    path.unlink()
            fsync_dir(folder)
            result.segments += len(batch.segments)
            result.events += batch.events.num_rows
            result.bad_events += batch.bad_events.num_rows
            result.bad_reasons.update(batch.bad_events["reason"].to_pylist())
    result.seconds = time.perf_counter() - started
    return result


def _groups(paths: list[Path], max_bytes: int) -> Iterator[list[Path]]:
    group, size = [], 0
    for path in paths:
        length = path.stat().st_size
        if group and size + length > max_bytes:
            yield group
            group, size = [], 0
        group.append(path)
        size += length
    if group:
        yield group


def _with_retries(sink, batch: Batch, settings: DrainSettings) -> None:
    for attempt in range(settings.retries + 1):
        try:
            sink.write(batch)
            return
        except Exception as err:  # noqa: BLE001 - any sink failure is retried, then raised
            if attempt == settings.retries:
                raise DrainError(
                    f"the {sink.name} sink failed {settings.retries + 1} times on segments "
                    f"{batch.segments[0]}..{batch.segments[-1]}: {err}. The segments stay in "
                    f"the spool and the next drain delivers them; fix the sink "
                    f"(docs/events.md#when-a-sink-is-down)") from err
            wait = settings.backoff_seconds * 2 ** attempt
            log.warning("%s sink failed (%s); retrying in %.1f s", sink.name, err, wait)
            time.sleep(wait)


def _quarantine(folder: Path, name: str) -> None:
    target = folder / "corrupt"
    target.mkdir(exist_ok=True)
    os.replace(folder / name, target / name)
