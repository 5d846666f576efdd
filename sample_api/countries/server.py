"""HTTP front end for the World Bank (`/v2/...`) and OECD (`/public/rest/data/...`) APIs,
with the Chicago server's scriptable `Faults` and an OECD hourly request budget.

Every data request of either provider draws one `Faults.pick()` and is answered the way
that provider fails: 429 with Retry-After, a 5xx HTML gateway page, a TCP reset, a 200
HTML maintenance page, a body cut in half, an empty page (World Bank `[meta, []]`, OECD the
CSV header only) or a slow answer. OECD data requests first take a slot of a sliding-hour
budget, like sdmx.oecd.org's per-hour quota: beyond it, 429 with the seconds until a slot
frees as Retry-After.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..server import _MAINTENANCE_PAGE, BackgroundServer, Faults, RequestRecord, send_reply
from ..server import _Reply as Reply
from . import oecd, worldbank
from .universe import CountryUniverse

log = logging.getLogger(__name__)

_HTML = "text/html;charset=utf-8"
HOUR = 3600.0


class HourlyBudget:
    """At most `per_hour` admitted requests in any sliding hour (thread-safe)."""

    def __init__(self, per_hour: int, clock: Any = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> int:
        """0 when a slot was taken, else the seconds until one frees (for Retry-After)."""
        with self._lock:
            now = self._clock()
            while self._taken and self._taken[0] <= now - HOUR:
                self._taken.popleft()
            if len(self._taken) < self.per_hour:
                self._taken.append(now)
                return 0
            if not self._taken:  # a budget of 0: nothing ever frees
                return int(HOUR)
            wait = self._taken[len(self._taken) - self.per_hour] + HOUR - now
            return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._taken.clear()


@dataclass
class _State:
    universe: CountryUniverse
    faults: Faults
    budget: HourlyBudget
    requests: list[RequestRecord] = field(default_factory=list)
    worldbank_repeats_page: int | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sample-countries/1.0"
    state: _State

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), urlsplit(self.path).path)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        reply = self._handle(url.path, params)
        if reply.status == 200:
            self.state.faults.record_success()
        self.state.requests.append(RequestRecord(url.path, params, reply.status, reply.rows,
                                                 False, reply.fault))
        send_reply(self, reply)

    def _handle(self, path: str, params: dict[str, str]) -> Reply:
        state = self.state
        if worldbank.is_data_path(path):
            provider, handle = "worldbank", worldbank.handle
            if state.worldbank_repeats_page:
                params = {**params, "page": str(state.worldbank_repeats_page)}
        elif oecd.is_data_path(path):
            provider, handle = "oecd", oecd.handle
            wait = state.budget.take()
            if wait:
                return Reply.of_json(429, {"statusCode": 429, "message": (
                    f"Rate limit is exceeded ({state.budget.per_hour} data requests per hour). "
                    f"Try again in {wait} seconds.")}, headers={"Retry-After": str(wait)})
        elif path.startswith("/v2/"):
            return worldbank.handle(state.universe, path, params)
        else:
            return Reply(404, b"Not found", "text/plain")
        kind, error_status = state.faults.pick() or (None, 0)
        if kind == "rate_limit":
            body = (b"<html><head><title>429 Too Many Requests</title></head><body>"
                    b"<h1>Too Many Requests</h1></body></html>")
            return Reply(429, body, _HTML, headers={"Retry-After": str(state.faults.retry_after)},
                         fault=kind)
        if kind == "server_error":
            return Reply(error_status, f"<html><body><h1>{error_status}</h1></body></html>".encode(),
                         _HTML, fault=kind)
        if kind == "reset":
            return Reply(0, b"", "", fault=kind)
        if kind == "html_200":
            return Reply(200, _MAINTENANCE_PAGE, _HTML, fault=kind)
        if kind == "bad_request":
            reply = (worldbank.request_error() if provider == "worldbank"
                     else Reply(400, b"Semantic Error - injected fault", oecd.TEXT))
            reply.fault = kind
            return reply
        if kind == "slow":
            time.sleep(state.faults.slow_seconds)
        reply = handle(state.universe, path, params, empty=kind == "empty_page")
        if kind == "malformed" and reply.status == 200:
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        if kind is not None:
            reply.fault = kind
        return reply


class CountryApi(BackgroundServer):
    """The World Bank and OECD APIs over one universe, on a background thread.

        with CountryApi(CountryUniverse(countries=20, first_year=2000)) as api:
            requests.get(f"{api.worldbank_url}/country", params={"format": "json"})
            requests.get(f"{api.oecd_url}/data/OECD.CTP.TPS,DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL,/all",
                         params={"format": "csv"})
            api.oecd_requests_per_hour = 3   # the budget can change while it runs
    """

    def __init__(self, universe: CountryUniverse | None = None, faults: Faults | None = None,
                 oecd_requests_per_hour: int = 60, host: str = "127.0.0.1", port: int = 0) -> None:
        self.universe = universe if universe is not None else CountryUniverse()
        self.faults = faults if faults is not None else Faults()
        self._budget = HourlyBudget(oecd_requests_per_hour)
        self._state = _State(self.universe, self.faults, self._budget)
        self.requests: list[RequestRecord] = self._state.requests
        super().__init__(host, port)

    _thread_name = "sample-countries"

    def _make_server(self) -> ThreadingHTTPServer:
        handler = type("CountryApiHandler", (_Handler,), {"state": self._state})
        return ThreadingHTTPServer((self._host, self._port), handler)

    @property
    def oecd_requests_per_hour(self) -> int:
        return self._budget.per_hour

    @oecd_requests_per_hour.setter
    def oecd_requests_per_hour(self, value: int) -> None:
        self._budget.per_hour = value

    @property
    def worldbank_repeats_page(self) -> int | None:
        """When set, every World Bank data request is answered with this page, whatever page
        it asks for: an API (or a cache in front of it) stuck on `page 1 of 3`."""
        return self._state.worldbank_repeats_page

    @worldbank_repeats_page.setter
    def worldbank_repeats_page(self, page: int | None) -> None:
        self._state.worldbank_repeats_page = page

    def reset_oecd_budget(self) -> None:
        """Forget the OECD requests counted so far (a fresh hour)."""
        self._budget.reset()

    @property
    def worldbank_url(self) -> str:
        """Base URL standing in for https://api.worldbank.org/v2."""
        return f"{self.url}/v2"

    @property
    def oecd_url(self) -> str:
        """Base URL standing in for https://sdmx.oecd.org/public/rest."""
        return f"{self.url}/public/rest"

    def worldbank_requests(self) -> list[RequestRecord]:
        """World Bank data requests served so far (country list and indicator pages, any status)."""
        return [r for r in self.requests if worldbank.is_data_path(r.path)]

    def oecd_requests(self) -> list[RequestRecord]:
        """OECD data requests served so far (any status, budget refusals included)."""
        return [r for r in self.requests if oecd.is_data_path(r.path)]


def serve(universe: CountryUniverse, host: str = "127.0.0.1", port: int = 8766,
          faults: Faults | None = None, oecd_requests_per_hour: int = 60) -> None:
    """Serve until Ctrl-C (blocking), logging the two base URLs."""
    api = CountryApi(universe, faults, oecd_requests_per_hour, host, port).start()
    log.info("World Bank API at %s, OECD API at %s (%d economies, %d OECD areas)",
             api.worldbank_url, api.oecd_url, len(universe.countries), len(universe.oecd_areas))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m sample_api countries [--seed 2026] [--countries 200] [--port 8766] ...`"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sample_api countries",
                                     description="Serve a local World Bank and OECD API.")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--countries", type=int, default=200)
    parser.add_argument("--first-year", type=int, default=1960)
    parser.add_argument("--last-year", type=int, default=2025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--oecd-requests-per-hour", type=int, default=60)
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="probability that a data request gets a random fault (0-1)")
    parser.add_argument("--fault-seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    universe = CountryUniverse(args.seed, args.countries, args.first_year, args.last_year)
    serve(universe, args.host, args.port, Faults(rate=args.fault_rate, seed=args.fault_seed),
          args.oecd_requests_per_hour)
    return 0


__all__ = ["CountryApi", "HourlyBudget", "main", "serve"]
