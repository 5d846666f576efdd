"""The collector's write-ahead log: events are on disk, fsynced, before the client hears 2xx.

A spool is a folder of append-only segments. The collector writes to one `<seq>.open`
segment; when it is big enough or old enough it is renamed `<seq>.sealed`, and only sealed
segments are handed to the drain (pipelines/events), which deletes one after every sink
committed it. Sequence numbers come from the clock and only grow, so segments sort in the
order they were written.

A record is one request's accepted events: `length (4 bytes) | crc32 (4 bytes) | payload`.
Group commit: concurrent requests queue their records; one writer thread writes every
queued record with a single write() and a single fdatasync(), then answers them all. That
is how a one-core collector keeps several thousand durable requests a second (an fsync per
request capped it near 900 here, docs/events.md).

After a crash, `recover()` reads each `.open` segment up to the last whole record whose
checksum holds; what follows (a torn write, which no client was told was saved) is moved
to `torn/` for inspection and the segment is sealed.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import shutil
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
OPEN, SEALED = ".open", ".sealed"
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a length above this is a torn header, not a record


class SpoolFull(Exception):
    """The spool is over its cap or the disk is (nearly) full: the collector answers 503."""


class SpoolLocked(Exception):
    """Another collector holds this spool folder."""


class CorruptSegment(Exception):
    """A sealed segment whose checksums do not hold (the disk, not a crash, damaged it)."""


@dataclass
class SpoolStats:
    records: int = 0
    bytes_written: int = 0
    syncs: int = 0
    sync_seconds: deque = field(default_factory=lambda: deque(maxlen=1000))  # for /metrics
    torn_bytes_dropped: int = 0


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_paths(folder: Path, suffix: str = SEALED) -> list[Path]:
    """The segments of a spool with this suffix, oldest first."""
    return sorted(folder.glob(f"*{suffix}"))


def read_records(path: Path) -> Iterator[bytes]:
    """Every record of a sealed segment; CorruptSegment if a checksum fails."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        payload, offset = _next_record(data, offset)
        if payload is None:
            raise CorruptSegment(f"{path}: record at byte {offset} fails its checksum; "
                                 "the segment was damaged after it was sealed")
        yield payload


def _next_record(data: bytes, offset: int) -> tuple[bytes | None, int]:
    """(payload, next offset), or (None, offset) when no whole valid record starts there."""
    if offset + HEADER.size > len(data):
        return None, offset
    length, crc = HEADER.unpack_from(data, offset)
    start, end = offset + HEADER.size, offset + HEADER.size + length
    # no record is empty: eight zero bytes (crc32 of nothing is 0) are a zero-filled tail
    if length == 0 or length > MAX_RECORD_BYTES or end > len(data):
        return None, offset
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None, offset
    return payload, end


class Spool:
    """An append-only, group-committed spool folder owned by one collector process."""

    def __init__(self, folder: Path, *, cap_bytes: int = 1 << 30, segment_bytes: int = 8 << 20,
                 seal_after_seconds: float = 1.0, min_free_bytes: int = 64 << 20):
        self.folder = Path(folder)
        self.cap_bytes = cap_bytes
        self.segment_bytes = segment_bytes
        self.seal_after_seconds = seal_after_seconds
        self.min_free_bytes = min_free_bytes
        self.stats = SpoolStats()
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self._last_seq = 0
        self._pending: list[tuple[bytes, asyncio.Future]] = []
        self._flushing = False
        self._io = threading.Lock()  # the writer thread and seal_if_due never interleave
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-writer")

    # -- life cycle ------------------------------------------------------------------

    def open(self) -> Spool:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.folder / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolLocked(f"{self.folder} is in use by another collector; give this one "
                              "its own folder (PULSE_COLLECTOR_SPOOL)") from None
        self.recover()
        for path in segment_paths(self.folder, SEALED):
            self._last_seq = max(self._last_seq, int(path.stem))
        return self

    def close(self) -> None:
        with self._io:
            self._seal_current()
        self._writer.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Spool:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def recover(self) -> int:
        """Cut every `.open` segment back to its last whole record and seal it; the torn
        tail goes to torn/. Returns the bytes dropped (never acknowledged to a client)."""
        dropped = 0
        for path in segment_paths(self.folder, OPEN):
            data = path.read_bytes()
            offset = 0
            while True:
                payload, after = _next_record(data, offset)
                if payload is None:
                    break
                offset = after
            if offset < len(data):
                # Cut first, then keep a copy if there is room: a torn tail is most likely
                # on a full disk (a short write at ENOSPC, killed before it was cut), where
                # writing the copy first failed and no collector or drain could open the
                # spool again. The tail was never acknowledged; only its copy may be lost.
                with open(path, "r+b") as handle:
                    handle.truncate(offset)
                    os.fsync(handle.fileno())
                copy = self.folder / "torn" / f"{path.stem}.tail"
                try:
                    copy.parent.mkdir(exist_ok=True)
                    copy.write_bytes(data[offset:])
                except OSError as err:
                    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    copy.unlink(missing_ok=True)
                dropped += len(data) - offset
            if offset == 0:
                path.unlink()
            else:
                path.rename(path.with_suffix(SEALED))
            self._last_seq = max(self._last_seq, int(path.stem))
        if dropped or segment_paths(self.folder, SEALED):
            fsync_dir(self.folder)
        self.stats.torn_bytes_dropped += dropped
        return dropped

    # -- writing ---------------------------------------------------------------------

    def spooled_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.*") if p.suffix in (OPEN, SEALED))

    def check_room(self) -> None:
        """SpoolFull unless there is room for more: under the cap and disk to spare."""
        used = self.spooled_bytes()
        if used >= self.cap_bytes:
            raise SpoolFull(f"spool {self.folder} holds {used:,} bytes, its cap is "
                            f"{self.cap_bytes:,}: the drain is behind or its sinks are down")
        free = shutil.disk_usage(self.folder).free
        if free < self.min_free_bytes:
            raise SpoolFull(f"disk of {self.folder} has {free:,} bytes free, "
                            f"below the {self.min_free_bytes:,} the collector keeps")

    async def append(self, payload: bytes) -> None:
        """Return once `payload` is on disk and fsynced; SpoolFull if it cannot be."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((payload, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_loop())
        await future

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(self._writer, self._write_batch,
                                               [payload for payload, _ in batch])
                except Exception as err:  # noqa: BLE001 - every waiter hears the same failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(err)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._flushing = False

    def append_sync(self, payload: bytes) -> None:
        """The same, from a thread without an event loop (tests, tools)."""
        self._writer.submit(self._write_batch, [payload]).result()

    def _write_batch(self, payloads: list[bytes]) -> None:
        frame = b"".join(HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._io:
            if self._fd is None:
                try:
                    self._open_segment()
                except OSError as err:  # no room for a new file (inodes, a full directory)
                    if err.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise SpoolFull(f"disk of {self.folder} is full: no new segment") from err
                    raise
            start = self._size
            try:
                written = os.write(self._fd, frame)
                if written != len(frame):  # a short write: the disk filled up midway
                    raise OSError(errno.ENOSPC, "short write")
                began = time.perf_counter()
                os.fdatasync(self._fd)
                took = time.perf_counter() - began
            except OSError as err:
                # Nothing of this batch was acknowledged: cut it off so a later batch is
                # not written after a half record.
                os.ftruncate(self._fd, start)
                if err.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise SpoolFull(f"disk of {self.folder} is full") from err
                raise
            self._size += len(frame)
            self.stats.records += len(payloads)
            self.stats.bytes_written += len(frame)
            self.stats.syncs += 1
            self.stats.sync_seconds.append(took)
            if self._size >= self.segment_bytes:
                self._seal_current()

    def _open_segment(self) -> None:
        seq = max(time.time_ns(), self._last_seq + 1)
        self._last_seq = seq
        self._path = self.folder / f"{seq:020d}{OPEN}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._size = 0
        self._opened_at = time.monotonic()
        fsync_dir(self.folder)  # the segment's name survives a crash with its first record

    def _seal_current(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if self._size:
            self._path.rename(self._path.with_suffix(SEALED))
        else:
            self._path.unlink()
        fsync_dir(self.folder)

    def seal_if_due(self) -> bool:
        """Seal the open segment once it is `seal_after_seconds` old, so the drain sees
        events within about that long even when traffic is light."""
        with self._io:
            if self._fd is not None and time.monotonic() - self._opened_at >= self.seal_after_seconds:
                self._seal_current()
                return True
        return False

    def seal_now(self) -> None:
        with self._io:
            self._seal_current()
