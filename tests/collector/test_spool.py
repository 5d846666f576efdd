"""The spool keeps every acknowledged record through crashes, and never a torn one.

Real files, real fdatasync, real SIGKILL: a child process appends records and prints each
one's number after append() returned (the moment the collector answers 2xx); the parent
kills it at a random point, recovers the folder and checks the records it finds.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from collector.spool import (
    HEADER,
    SEALED,
    CorruptSegment,
    Spool,
    SpoolFull,
    SpoolLocked,
    read_records,
    segment_paths,
)


def all_records(folder: Path) -> list[bytes]:
    return [record for path in segment_paths(folder) for record in read_records(path)]


def test_records_written_by_concurrent_appends_are_all_there_in_few_syncs(tmp_path):
    async def write_many():
        with Spool(tmp_path) as spool:
            await asyncio.gather(*(spool.append(f"record {i}".encode()) for i in range(500)))
            return spool.stats.syncs

    syncs = asyncio.run(write_many())
    records = all_records(tmp_path)
    assert sorted(records) == sorted(f"record {i}".encode() for i in range(500))
    assert syncs < 500, "concurrent appends share fsyncs (group commit)"


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def test_a_torn_tail_is_cut_off_and_kept_aside_and_whole_records_stay(tmp_path):
    # what a crash in the middle of a write leaves: whole records, then a header promising
    # more bytes than arrived
    open_segment = tmp_path / f"{time.time_ns():020d}.open"
    open_segment.write_bytes(b"".join(frame(f"whole {i}".encode()) for i in range(3))
                             + frame(b"never acknowledged")[:HEADER.size + 5])

    with Spool(tmp_path) as spool:
        assert spool.stats.torn_bytes_dropped == HEADER.size + 5
    assert all_records(tmp_path) == [b"whole 0", b"whole 1", b"whole 2"]
    assert (tmp_path / "torn" / f"{open_segment.stem}.tail").stat().st_size == HEADER.size + 5
    assert not list(tmp_path.glob("*.open"))


def test_a_flipped_bit_in_a_sealed_segment_is_reported_not_read(tmp_path):
    with Spool(tmp_path) as spool:
        spool.append_sync(b"a record that will be damaged")
    sealed = segment_paths(tmp_path)[0]
    data = bytearray(sealed.read_bytes())
    data[-3] ^= 0x01
    sealed.write_bytes(bytes(data))
    with pytest.raises(CorruptSegment, match="fails its checksum"):
        list(read_records(sealed))


def test_segments_seal_by_size_and_sort_in_write_order(tmp_path):
    with Spool(tmp_path, segment_bytes=1000) as spool:
        for i in range(50):
            spool.append_sync(f"{i:04d}".encode() * 20)
    sealed = segment_paths(tmp_path, SEALED)
    assert len(sealed) > 3
    assert all_records(tmp_path) == [f"{i:04d}".encode() * 20 for i in range(50)]


def test_a_second_spool_on_the_same_folder_is_refused(tmp_path):
    with Spool(tmp_path), pytest.raises(SpoolLocked, match="PULSE_COLLECTOR_SPOOL"):
        Spool(tmp_path).open()


def test_over_its_cap_the_spool_refuses_more(tmp_path):
    with Spool(tmp_path, cap_bytes=2000) as spool:
        spool.check_room()
        for _ in range(10):
            spool.append_sync(b"x" * 300)
        with pytest.raises(SpoolFull, match="cap"):
            spool.check_room()


WRITER = textwrap.dedent("""
    import asyncio, sys
    from collector.spool import Spool

    async def main(folder, first):
        spool = Spool(folder, segment_bytes=20_000, seal_after_seconds=0.05)
        spool.open()
        number = first

        async def one(n):
            await spool.append(f"{n} ".encode() + b"x" * 100)
            print(n, flush=True)  # acknowledged

        while True:
            await asyncio.gather(*(one(number + i) for i in range(20)))
            number += 20
            spool.seal_if_due()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


@pytest.mark.parametrize("trial", range(3))
def test_every_acknowledged_record_survives_sigkill(tmp_path, trial):
    rng = random.Random(trial)
    acknowledged: set[int] = set()
    for kill in range(3):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(kill * 10**7)],
                                 stdout=subprocess.PIPE, text=True)
        first = child.stdout.readline()  # writing: the kill comes a while into it, however
        time.sleep(rng.uniform(0.4, 1.2))  # long a busy machine took to start Python
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        acknowledged |= {int(line) for line in (first + out).split()}
        with Spool(tmp_path):  # recovery, as the next collector start does
            pass
    found = [record.decode() for record in all_records(tmp_path)]
    numbers = [int(r.split()[0]) for r in found]
    assert len(acknowledged) > 100
    assert acknowledged <= set(numbers), "an acknowledged record was lost"
    assert len(numbers) == len(set(numbers)), "a record was kept twice"
    assert all(r == f"{n} " + "x" * 100 for r, n in zip(found, numbers, strict=True))


def test_a_zero_filled_tail_is_torn_not_an_empty_record(tmp_path):
    """A file system may leave zeros after a crash: eight of them look like a record of
    no bytes whose checksum (crc32 of nothing) is 0; no record is empty, so it is torn."""
    open_segment = tmp_path / f"{time.time_ns():020d}.open"
    open_segment.write_bytes(frame(b"whole") + b"\x00" * 64)
    with Spool(tmp_path) as spool:
        assert spool.stats.torn_bytes_dropped == 64
    assert all_records(tmp_path) == [b"whole"]
