"""A local Grafana Loki: `GET /loki/api/v1/query_range`, `/loki/api/v1/labels` and
`/loki/api/v1/label/<name>/values`, in Loki's shapes (see ../shared/realdata/loki/), over
log lines held in memory, with Loki's paging rules and scriptable faults.

What it keeps of Loki's behaviour, because the `loki` source depends on it:
- `start` is inclusive and `end` exclusive, in nanoseconds (or RFC 3339); timestamps
  come back as strings of nanoseconds;
- `direction=forward` returns the `limit` oldest entries of the range across all
  streams, grouped by stream; `backward` the newest;
- `limit` over `max_entries_limit_per_query` (5,000) is a 400 with Loki's message, as
  are a range longer than `max_query_length` (721h), an `end` not after `start`, and a
  query that is not a stream selector (`{label="value", ...}`: the only LogQL spoken);
- an entry is a stream's labels, a timestamp and a line; many entries may share one
  timestamp (Loki orders them by line within it).
- `X-Scope-OrgID` picks a tenant when `tenants` are set (multi-tenant Loki; a missing
  one is a 401 "no org id"); basic auth or a bearer token when `auth` is set.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

MAX_ENTRIES_LIMIT = 5000
MAX_QUERY_LENGTH_NS = 721 * 3600 * 10**9  # Loki's default max_query_length
_SELECTOR = re.compile(r'^\{\s*(?P<body>[^{}]*)\}\s*$')
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True, order=True)
class Entry:
    ts_ns: int
    line: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def stream(self) -> dict[str, str]:
        return dict(self.labels)


class LogStore:
    """Entries of every stream and tenant, sorted by (timestamp, line): the order Loki
    returns a forward query in."""

    def __init__(self, entries: list[Entry] | None = None, tenant: str = "fake"):
        self._by_tenant: dict[str, list[Entry]] = defaultdict(list)
        self._lock = threading.Lock()
        if entries:
            self.push(entries, tenant)

    def push(self, entries: list[Entry], tenant: str = "fake") -> None:
        """Add entries (Loki keeps one copy of an identical stream, timestamp and line)."""
        with self._lock:
            merged = set(self._by_tenant[tenant]) | set(entries)
            self._by_tenant[tenant] = sorted(merged)

    def entries(self, tenant: str = "fake") -> list[Entry]:
        with self._lock:
            return list(self._by_tenant[tenant])

    def query(self, selector: dict[str, str], start_ns: int, end_ns: int, limit: int,
              direction: str = "forward", tenant: str = "fake") -> list[Entry]:
        with self._lock:
            entries = self._by_tenant[tenant]
            low = bisect_left(entries, (start_ns,), key=lambda e: (e.ts_ns,))
            high = bisect_left(entries, (end_ns,), key=lambda e: (e.ts_ns,))
            # by index, not a slice: a page of a long range copies no more than it reads
            order = range(low, high) if direction == "forward" else range(high - 1, low - 1, -1)
            chosen: list[Entry] = []
            matches: dict[tuple, bool] = {}  # a stream's labels match or not: once per stream
            for i in order:
                entry = entries[i]
                matched = matches.get(entry.labels)
                if matched is None:
                    labels = entry.stream
                    matched = matches[entry.labels] = all(labels.get(k) == v
                                                          for k, v in selector.items())
                if matched:
                    chosen.append(entry)
                    if len(chosen) == limit:
                        break
            return chosen


class LokiQueryError(ValueError):
    pass


def parse_selector(query: str) -> dict[str, str]:
    """`{job="nginx", host="web-1"}` as a dict; LokiQueryError for anything else."""
    match = _SELECTOR.match(query or "")
    if not match:
        raise LokiQueryError(f'parse error : queries require at least one regexp or equality '
                             f'matcher that does not have an empty-compatible value. For '
                             f'instance, app=~".*" does not meet this requirement, but '
                             f'app=~".+" will: {query!r}')
    body, selector, position = match.group("body").strip(), {}, 0
    while position < len(body):
        matcher = _MATCHER.match(body, position)
        if not matcher:
            raise LokiQueryError(f"parse error at line 1, col {position + 2}: syntax error: "
                                 f"unexpected {body[position:position + 10]!r}")
        selector[matcher.group(1)] = bytes(matcher.group(2), "utf-8").decode("unicode_escape")
        position = matcher.end()
    if not selector:
        raise LokiQueryError("parse error : queries require at least one regexp or equality "
                             "matcher that does not have an empty-compatible value")
    return selector


def _nanoseconds(value: str) -> int:
    """Loki's time parameters: nanoseconds, seconds with a fraction, or RFC 3339."""
    if re.fullmatch(r"\d+", value):
        return int(value) if len(value) > 12 else int(value) * 1_000_000_000
    if re.fullmatch(r"\d+\.\d+", value):
        whole, fraction = value.split(".")
        return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000


@dataclass
class LokiFaults:
    """Countdowns: the next N query_range requests get this status (Loki's bodies)."""
    rate_limit: int = 0  # 429
    server_error: int = 0  # 500
    requests: list[dict] = field(default_factory=list)  # every query_range's parameters


def _streams(entries: list[Entry]) -> list[dict]:
    grouped: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    for entry in entries:
        grouped[entry.labels].append((str(entry.ts_ns), entry.line))
    return [{"stream": dict(labels), "values": values} for labels, values in grouped.items()]


class LokiHandler(BaseHTTPRequestHandler):
    server: LokiHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: tests read `faults.requests`
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        loki = self.server.loki
        refusal = loki.refuse(self.headers)
        if refusal:
            return self._text(*refusal)
        tenant = self.headers.get("X-Scope-OrgID") or "fake"
        if parts.path == "/loki/api/v1/query_range":
            return self._query_range(params, tenant)
        if parts.path == "/loki/api/v1/labels":
            names = sorted({k for e in loki.store.entries(tenant) for k, _ in e.labels})
            return self._json(200, {"status": "success", "data": names})
        label = re.fullmatch(r"/loki/api/v1/label/([^/]+)/values", parts.path)
        if label:
            name = unquote(label.group(1))
            values = sorted({v for e in loki.store.entries(tenant) for k, v in e.labels if k == name})
            return self._json(200, {"status": "success", "data": values})
        self._text(404, "404 page not found\n")

    def _query_range(self, params: dict[str, str], tenant: str) -> None:
        loki = self.server.loki
        faults = loki.faults
        faults.requests.append(dict(params))
        if faults.rate_limit > 0:
            faults.rate_limit -= 1
            return self._text(429, "Ingestion rate limit exceeded for user fake (limit: "
                                   "4194304 bytes/sec) while attempting to ingest lines\n")
        if faults.server_error > 0:
            faults.server_error -= 1
            return self._text(500, "rpc error: code = Unavailable desc = connection refused\n")
        try:
            selector = parse_selector(params.get("query", ""))
            limit = int(params.get("limit", 100))
            if limit > loki.max_entries_limit:
                raise LokiQueryError(f"max entries limit per query exceeded, limit > "
                                     f"max_entries_limit_per_query ({limit} > "
                                     f"{loki.max_entries_limit})")
            if limit <= 0:
                raise LokiQueryError("limit must be a positive value")
            end = _nanoseconds(params["end"]) if "end" in params else loki.now_ns()
            start = _nanoseconds(params["start"]) if "start" in params else end - 3600 * 10**9
            if end <= start:
                raise LokiQueryError("end timestamp must not be before or equal to start time")
            if end - start > loki.max_query_length_ns:
                raise LokiQueryError(
                    f"the query time range exceeds the limit (query length: "
                    f"{(end - start) / 3.6e12:.0f}h, limit: {loki.max_query_length_ns / 3.6e12:.0f}h)")
            direction = params.get("direction", "backward")
            if direction not in ("forward", "backward"):
                raise LokiQueryError(f"invalid direction {direction!r}")
        except (LokiQueryError, ValueError) as err:
            return self._text(400, f"{err}\n")
        entries = loki.store.query(selector, start, end, limit, direction, tenant)
        self._json(200, {"status": "success", "data": {
            "resultType": "streams", "result": _streams(entries),
            "stats": {"summary": {"totalEntriesReturned": len(entries)}}}})

    def _json(self, status: int, body: dict) -> None:
        try:  # orjson: a page of 5,000 lines several times faster; json for what it refuses
            data = orjson.dumps(body)  # (a lone surrogate in a line), escaped as before
        except orjson.JSONEncodeError:
            data = json.dumps(body).encode()
        self._send(status, data, "application/json; charset=UTF-8")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LokiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    loki: LocalLoki


@dataclass
class LocalLoki:
    """The store, its faults and its rules, served on 127.0.0.1 (a free port)."""
    store: LogStore = field(default_factory=LogStore)
    faults: LokiFaults = field(default_factory=LokiFaults)
    max_entries_limit: int = MAX_ENTRIES_LIMIT
    max_query_length_ns: int = MAX_QUERY_LENGTH_NS
    auth: str | None = None  # "user:password" (basic) or "Bearer <token>"
    tenants: tuple[str, ...] = ()  # when set, X-Scope-OrgID must name one
    clock_ns: int | None = None  # a fixed "now" for tests; None: the real clock
    _server: LokiHttpServer | None = None

    def now_ns(self) -> int:
        import time

        return self.clock_ns if self.clock_ns is not None else time.time_ns()

    def refuse(self, headers) -> tuple[int, str] | None:
        if self.auth:
            given = headers.get("Authorization", "")
            wanted = (self.auth if self.auth.startswith("Bearer ")
                      else "Basic " + base64.b64encode(self.auth.encode()).decode())
            if given != wanted:
                return 401, "Unauthorized\n"
        if self.tenants and headers.get("X-Scope-OrgID") not in self.tenants:
            return 401, "no org id\n"
        return None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> LocalLoki:
        self._server = LokiHttpServer(("127.0.0.1", port), LokiHandler)
        self._server.loki = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalLoki:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
