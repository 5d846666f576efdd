"""OECD's request budget, kept by every process on this machine: a ledger file and a lock.

OECD limits a client to a few dozen data downloads an hour and answers more with HTTP 429
(and, persisted in, a block of the address). Retrying on 429 spends the same budget, so
the only safe client is one that counts before it asks. `RequestLedger` records every HTTP
attempt (retries included: `BudgetAdapter` sits under dlt's retrying session, so each
attempt passes through it) in a JSON file guarded by an `fcntl` lock, which every dataflow,
pipeline and process on the machine shares. Before an attempt it waits out the minimum gap
since the last one; when the sliding hour is full it waits for the next slot if that opens
within `max_wait_seconds`, else raises OecdBudgetExceeded before anything was sent.

OECD counts per client address, so the file belongs to the machine, not to a checkout or a
warehouse: `machine_ledger_path()` is in the user's state folder whatever checkout,
PULSE_WAREHOUSE_DIR, WAREHOUSE_URL or dlt pipelines dir a process uses
(SOURCES__OECD__LEDGER_PATH names another file, e.g. one shared by several OS users).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import dlt
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from .helpers import OecdError

log = logging.getLogger(__name__)

LEDGER_FILE = "oecd_request_ledger.json"
LEDGER_PATH_KEY = "sources.oecd.ledger_path"  # SOURCES__OECD__LEDGER_PATH
WINDOW_SECONDS = 3600.0  # OECD counts downloads per hour
# dlt's retry sleeps Retry-After itself and then asks again: a block about to end is waited
# out rather than refused.
BLOCK_GRACE_SECONDS = 5.0


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OecdBudgetExceeded(OecdError):
    """The hour's OECD requests are spent: nothing was sent. Retriable once a slot opens
    (`next_slot_at`, epoch seconds)."""

    def __init__(self, message: str, used: int, budget: int, next_slot_at: float) -> None:
        super().__init__(message, retriable=True)
        self.used, self.budget, self.next_slot_at = used, budget, next_slot_at


def machine_ledger_path() -> Path:
    """The ledger every OECD request of this machine counts in: SOURCES__OECD__LEDGER_PATH,
    else `$XDG_STATE_HOME/pulse/oecd_request_ledger.json` (`~/.local/state/pulse/...`)."""
    if configured := dlt.config.get(LEDGER_PATH_KEY):
        return Path(str(configured)).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state_home) / "pulse" / LEDGER_FILE


def ledger_path(folder: str | Path | None = None) -> Path:
    """The machine's ledger, or with `folder` a private one in it: for scratch runs against
    a local API (tests, benchmarks, the reliability suite), which must neither spend the
    machine's budget nor be refused by it."""
    return machine_ledger_path() if folder is None else Path(folder) / LEDGER_FILE


@dataclass
class Attempt:
    at: float  # epoch seconds, when the attempt was allowed
    what: str  # which dataflow / URL path, for whoever reads the ledger
    pid: int


class RequestLedger:
    """Every OECD request attempt of the last hour, shared through `path` by all processes.

    `take(what)` blocks until an attempt may be sent and records it, or raises
    OecdBudgetExceeded. `clock` and `sleep` are injectable so tests need not wait an hour.
    """

    def __init__(
        self,
        path: str | Path,
        requests_per_hour: int,
        min_seconds_between_requests: float = 0.0,
        max_wait_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_hour < 1:
            raise ValueError(f"requests_per_hour must be >= 1, not {requests_per_hour}")
        self.path = Path(path)
        self.requests_per_hour = requests_per_hour
        self.min_seconds_between_requests = max(0.0, float(min_seconds_between_requests))
        self.max_wait_seconds = max(0.0, float(max_wait_seconds))
        self.clock, self.sleep = clock, sleep
        self._blocked_until = 0.0  # epoch seconds; read from the file with the attempts

    def used(self) -> list[Attempt]:
        """The attempts in the current sliding hour, oldest first."""
        with self._locked():
            return self._recent(self._read())

    def take(self, what: str) -> float:
        """Records one attempt once it is allowed; returns the seconds waited for it."""
        waited = 0.0
        while True:
            with self._locked():
                attempts = self._recent(self._read())
                now = self.clock()
                pause = 0.0
                blocked = self._blocked_until - now
                if blocked > BLOCK_GRACE_SECONDS and waited + blocked > self.max_wait_seconds:
                    raise self._blocked(len(attempts), self._blocked_until, what)
                if blocked > 0:
                    pause = blocked
                elif len(attempts) >= self.requests_per_hour:
                    opens = attempts[-self.requests_per_hour].at + WINDOW_SECONDS
                    pause = opens - now
                    if waited + pause > self.max_wait_seconds:
                        raise self._exceeded(len(attempts), opens, what)
                elif attempts:
                    pause = attempts[-1].at + self.min_seconds_between_requests - now
                if pause <= 0:
                    attempts.append(Attempt(now, what, os.getpid()))
                    self._write(attempts)
                    return waited
            # wait unlocked: other processes may read the ledger meanwhile
            log.info("OECD budget: waiting %.1f s before %s", pause, what)
            self.sleep(pause)
            waited += pause

    def block(self, seconds: float) -> None:
        """Records OECD's Retry-After: no process on this machine asks before it has passed."""
        with self._locked():
            attempts = self._recent(self._read())
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)
            self._write(attempts)

    def _blocked(self, used: int, until: float, what: str) -> OecdBudgetExceeded:
        at = _stamp(until)
        return OecdBudgetExceeded(
            f"OECD answered HTTP 429 and asked this machine to wait until {at} (Retry-After, "
            f"recorded in {self.path}), so {what} was not requested. Nothing from this request "
            f"was loaded and its cursor did not move. Run again after {at}.",
            used=used, budget=self.requests_per_hour, next_slot_at=until)

    def _exceeded(self, used: int, opens: float, what: str) -> OecdBudgetExceeded:
        at = _stamp(opens)
        return OecdBudgetExceeded(
            f"OECD request budget exhausted: {used} of {self.requests_per_hour} requests allowed "
            f"in the last hour were already made from this machine (ledger {self.path}), so "
            f"{what} was not requested. The next slot opens at {at} (in "
            f"{max(0, round(opens - self.clock()))} s). Nothing from this request was loaded "
            f"and its cursor did not move: the next run picks up from the last successful "
            f"load. Run again after {at}, or set SOURCES__OECD__MAX_WAIT_SECONDS to wait for "
            f"slots; raise requests_per_hour in pipelines/oecd/dataflows.yml only if OECD "
            f"allows more.", used=used, budget=self.requests_per_hour, next_slot_at=opens)

    def _recent(self, attempts: list[Attempt]) -> list[Attempt]:
        since = self.clock() - WINDOW_SECONDS
        return sorted((a for a in attempts if a.at > since), key=lambda a: a.at)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> list[Attempt]:
        self._blocked_until = 0.0
        try:
            doc = json.loads(self.path.read_text())
            self._blocked_until = float(doc.get("blocked_until") or 0.0)
            return [Attempt(float(a["at"]), str(a.get("what", "")), int(a.get("pid", 0)))
                    for a in doc.get("attempts", [])]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            # A damaged ledger must not let requests through unchecked: count the hour as
            # full until it ages out, and say so.
            log.error("OECD request ledger %s is unreadable (%s): treating this hour as spent",
                      self.path, err)
            mtime = self.path.stat().st_mtime
            return [Attempt(mtime, "unreadable ledger", 0)] * self.requests_per_hour

    def _write(self, attempts: list[Attempt]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        doc = {"window_seconds": WINDOW_SECONDS, "blocked_until": self._blocked_until,
               "attempts": [{"at": a.at, "what": a.what, "pid": a.pid} for a in attempts]}
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.path)  # readers see the old or the new ledger, never half of one


class BudgetAdapter(HTTPAdapter):
    """A transport adapter that takes a ledger slot before each send.

    Mounted on dlt's retrying session, it sits below the retry loop: every attempt,
    first or retry, passes through `send` and is counted.
    """

    def __init__(self, ledger: RequestLedger, label: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger, self.label = ledger, label

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        path = (request.path_url or "").split("?")[0]
        self.ledger.take(f"{self.label} ({request.method} {path})" if self.label else path)
        response = super().send(request, *args, **kwargs)
        if response.status_code == 429:
            self.ledger.block(retry_after_seconds(response.headers.get("Retry-After")))
        return response


def retry_after_seconds(header: str | None, default: float = 60.0) -> float:
    """Retry-After (seconds or an HTTP date) in seconds; `default` when absent or unreadable."""
    if not header:
        return default
    if header.strip().isdigit():
        return float(header.strip())
    try:
        return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def mount_budget(session: Any, ledger: RequestLedger, label: str = "") -> None:
    """Routes every request of `session` through a BudgetAdapter."""
    adapter = BudgetAdapter(ledger, label)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
