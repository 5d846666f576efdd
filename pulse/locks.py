"""One run at a time: named locks held in the warehouse.

Two loads of one dataset at once corrupt it: the slower one, holding an older snapshot,
merges it over the newer rows after the faster one moved the cursor past them, and both
share dlt's local working folder. Two `dbt build`s at once rebuild the same marts. Dagster
pools queue such steps within one Dagster instance; these locks hold wherever the work
runs (the CLI, a second Dagster deployment, a backfill started by hand), because they
live in the database the work writes to.

They are PostgreSQL session advisory locks: released when the holder's connection ends,
so a killed run never leaves one behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from pulse.warehouse import WarehouseError

log = logging.getLogger(__name__)

# How long a run waits for the one before it; a live backfill can take hours.
DEFAULT_WAIT_SECONDS = 6 * 3600
_POLL_SECONDS = 1.0
_APP_PREFIX = "pulse lock: "


class LockTimeout(WarehouseError):
    """Another run held the lock for longer than this run would wait."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive across the processes of this machine while the block runs (flock on
    `path`, created if missing): for work on local files, which no database sees."""
    import fcntl

    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lock_key(name: str) -> int:
    """The advisory lock key of `name`: 64 bits of its SHA-256 (keys are per database)."""
    return int.from_bytes(hashlib.sha256(f"pulse:{name}".encode()).digest()[:8], "big",
                          signed=True)


def wait_seconds() -> float:
    """`PULSE_LOCK_WAIT_SECONDS`, else six hours."""
    return float(os.environ.get("PULSE_LOCK_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))


@contextlib.contextmanager
def exclusive(url: str, name: str, wait: float | None = None) -> Iterator[None]:
    """Holds the lock `name` in `url`'s database while the block runs.

    If another run holds it, waits (saying for whom) up to `wait` seconds (default
    `wait_seconds()`), then raises LockTimeout; nothing has been done by then.
    """
    import psycopg

    wait = wait_seconds() if wait is None else wait
    key = lock_key(name)
    me = f"{_APP_PREFIX}{name} (pid {os.getpid()} on {socket.gethostname()})"[:63]
    with psycopg.connect(url, autocommit=True, application_name=me,
                         keepalives=1, keepalives_idle=60) as conn:
        started = time.monotonic()
        announced = False
        while not conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            holder = _holder(conn, key)
            if time.monotonic() - started >= wait:
                raise LockTimeout(
                    f"{name}: another run ({holder}) held the lock for more than {wait:.0f} s, "
                    "so this run did nothing. Let that run finish (or stop it), then run "
                    "again; PULSE_LOCK_WAIT_SECONDS sets how long to wait")
            if not announced:
                log.warning("%s: another run (%s) holds the lock; waiting for it to finish",
                            name, holder)
                announced = True
            time.sleep(_POLL_SECONDS)
        if announced:
            log.warning("%s: the lock is free after %.0f s; going on", name,
                        time.monotonic() - started)
        try:
            yield
        finally:
            # Closing the connection releases it too; unlocking first frees it at once
            # even when the pool keeps the connection.
            with contextlib.suppress(psycopg.Error):
                conn.execute("select pg_advisory_unlock(%s)", (key,))


def _holder(conn, key: int) -> str:
    """Who holds the lock, as far as this role may see (its application name)."""
    row = conn.execute(
        "select a.application_name, a.backend_start from pg_locks l "
        "left join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.database = "
        "(select oid from pg_database where datname = current_database()) "
        "and ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (key,)).fetchone()
    if not row or not row[0]:
        return "unknown holder"
    name = row[0].removeprefix(_APP_PREFIX)
    return f"{name}, connected since {row[1]:%Y-%m-%d %H:%M:%S %Z}" if row[1] else name
