"""HTTP front end: SODA 2.1 `/resource/<id>.json|.geojson` and `/api/views/<id>.json`,
with scriptable faults.

`SampleApi` runs it on a background thread for tests; `serve` blocks for the
CLI. One server holds any number of datasets keyed by their Socrata id (one
`CrimesDataset`, or `chicago_portal()`'s seven). The handler answers like
data.cityofchicago.org (status codes, error bodies, headers) so client
retry/backoff code is exercised for real.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .crimes import CrimesDataset
from .soql import LOCATION, Query, Schema, SoqlError, parse_query

log = logging.getLogger(__name__)

DATASET_ID = "ijzp-q8t2"
_TOKEN_PARAM = "$$app_token"
_JSON = "application/json;charset=utf-8"
_HTML = "text/html;charset=utf-8"
# What a CDN or proxy in front of the portal serves, with a 200, during maintenance.
_MAINTENANCE_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>"
                     b"<body><h1>We'll be back soon</h1><p>The data portal is down for scheduled"
                     b" maintenance. Please try again later.</p></body></html>\n")


# Kinds a random fault may take. bad_request is countdown-only: a 400 is never
# transient, so as random noise it would only fail runs.
FAULT_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "slow", "reset", "malformed",
                                "html_200", "empty_page")
# Countdown precedence, first match answers the request.
_ORDER = ("rate_limit", "server_error", "reset", "html_200", "bad_request", "empty_page", "slow",
          "malformed")
_ERROR_STATUSES = (500, 502, 503)


@dataclass
class Faults:
    """Failure knobs, mutable from tests while the server runs.

    Each data request (`/resource/...` of any dataset) and each metadata request
    (`/api/views/...`) gets at most one fault, named by its kind (the name used
    in `injected`, `kinds` and `RequestRecord.fault`):

    - rate_limit: 429 with `Retry-After: retry_after`.
    - server_error: `server_error_status` (500, 502 or 503) with an HTML body.
    - reset: the connection is dropped with a TCP RST and no response.
    - html_200: 200 `text/html`, a proxy's maintenance page.
    - bad_request: 400 query.soql.no-such-column.
    - empty_page: 200 `[]`, whatever was asked.
    - slow: sleep `slow_seconds`, then answer normally.
    - malformed: 200 with the JSON body cut in half.

    Each `<kind>_next` knob is a countdown: the next N data requests get that
    fault. Countdowns are checked in the order above, `fail_after_requests`
    right after server_error: `fail_after_requests=K` lets the next K data
    requests succeed (counted from when it is set), then fails every one with
    `server_error_status` until it is set back to None or `reset()`: a run
    that dies mid-paging.

    When no countdown fires, a random fault fires with probability `rate`,
    its kind drawn uniformly from `kinds` (a server_error draws its status from
    500/502/503 too), at most `max_random` times in all. The draws come from
    `random.Random(seed)`, so the same requests get the same faults every run.
    `injected` counts every fault that fired, countdown or random, by kind.
    """

    rate_limit_next: int = 0
    retry_after: int = 1  # seconds, sent as Retry-After on 429
    server_error_next: int = 0
    server_error_status: int = 503  # 500, 502 or 503
    slow_next: int = 0
    slow_seconds: float = 2.0
    malformed_next: int = 0
    bad_request_next: int = 0
    reset_next: int = 0
    html_200_next: int = 0
    empty_page_next: int = 0
    fail_after_requests: int | None = None
    succeeded: int = 0  # successful data responses so far
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    max_random: int | None = None
    injected: Counter[str] = field(default_factory=Counter)
    _random_fired: int = field(default=0, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "kinds":
            value = tuple(value)
            unknown = set(value) - set(FAULT_KINDS)
            if unknown or not value:
                raise ValueError(f"Faults.kinds: unknown or empty {sorted(unknown) or value}; "
                                 f"expected some of {', '.join(FAULT_KINDS)}")
        if name == "rate" and not 0.0 <= value <= 1.0:
            raise ValueError(f"Faults.rate must be within [0, 1], got {value}")
        super().__setattr__(name, value)
        if name == "fail_after_requests":  # count successes from when it is armed
            super().__setattr__("succeeded", 0)
        if name == "seed":  # a new seed restarts the random sequence
            super().__setattr__("_rng", random.Random(value))

    def take(self, knob: str) -> bool:
        """Consume one unit of a countdown knob; True (and counted) if it fired."""
        with self._lock:
            return self._take(knob)

    def _take(self, knob: str) -> bool:
        left = getattr(self, knob)
        if left > 0:
            setattr(self, knob, left - 1)
            self.injected[knob.removesuffix("_next")] += 1
            return True
        return False

    def pick(self) -> tuple[str, int] | None:
        """This data request's fault kind and its 5xx status, or None; counted."""
        with self._lock:
            for kind in _ORDER:
                if self._take(f"{kind}_next"):
                    return kind, self.server_error_status
                if kind == "server_error" and self._exhausted():
                    self.injected[kind] += 1
                    return kind, self.server_error_status
            capped = self.max_random is not None and self._random_fired >= self.max_random
            if capped or not self.rate or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            status = (self._rng.choice(_ERROR_STATUSES) if kind == "server_error"
                      else self.server_error_status)
            self._random_fired += 1
            self.injected[kind] += 1
            return kind, status

    def exhausted(self) -> bool:
        with self._lock:
            return self._exhausted()

    def _exhausted(self) -> bool:
        return self.fail_after_requests is not None and self.succeeded >= self.fail_after_requests

    def record_success(self) -> None:
        with self._lock:
            self.succeeded += 1

    def reset(self) -> None:
        """Back to a healthy server: countdowns, rate and counters cleared, seed rewound."""
        with self._lock:
            for kind in _ORDER:
                setattr(self, f"{kind}_next", 0)
            self.succeeded = self._random_fired = 0
            self.fail_after_requests = None
            self.rate = 0.0
            self.injected.clear()
            self._rng = random.Random(self.seed)


@dataclass(frozen=True)
class RequestRecord:
    """One request as served. The app token's value is never kept."""

    path: str
    params: dict[str, str]
    status: int  # 0: no response (a reset)
    rows: int  # rows in the body (0 for errors)
    token_sent: bool
    fault: str | None  # the Faults kind that answered, if any


class Dataset(Protocol):
    """What the server needs of a dataset (`RowDataset`, `BoundaryDataset`)."""

    @property
    def dataset_id(self) -> str: ...

    @property
    def schema(self) -> Schema: ...

    def query(self, q: Query) -> list[dict[str, Any]]: ...

    def metadata(self) -> dict[str, Any]: ...

    def __len__(self) -> int: ...


@dataclass
class _State:
    datasets: Mapping[str, Dataset]
    faults: Faults
    required_token: str | None
    requests: list[RequestRecord] | deque[RequestRecord]


def _by_id(datasets: Dataset | Mapping[str, Dataset] | None) -> dict[str, Dataset]:
    """{dataset id: dataset}, from one dataset (served under its own id) or a mapping."""
    if datasets is None:
        datasets = CrimesDataset(1000)
    if isinstance(datasets, Mapping):
        if not datasets:
            raise ValueError("SampleApi needs at least one dataset")
        return dict(datasets)
    return {datasets.dataset_id: datasets}


def _geojson(rows: list[dict[str, Any]], select: tuple[str, ...], schema: Schema) -> dict[str, Any]:
    """FeatureCollection shaped like the portal's (.geojson endpoint).

    The geometry is the dataset's location, point or multipolygon column; an old-style
    location is flattened into location_* properties, a GeoJSON one leaves them.
    """
    column = schema.geometry_column()
    flattened = column is not None and schema.kind(column) == LOCATION
    features = []
    for row in rows:
        value = row.get(column) if column else None
        props = {c: row.get(c) for c in select if c != column}
        if flattened and column in select:
            blank = "" if value else None  # the portal flattens location into these
            props.update(location_address=blank, location_city=blank, location_state=blank,
                         location_zip=blank)
        if flattened:
            geometry = ({"type": "Point",
                         "coordinates": [float(value["longitude"]), float(value["latitude"])]}
                        if value else None)
        else:
            geometry = value if isinstance(value, dict) else None
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features,
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like requests.Session expects
    server_version = "sample-soda/2.1"
    state: _State  # set on the subclass built per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The request line may carry $$app_token: log only the path.
        log.debug("%s %s", self.address_string(), urlsplit(self.path).path)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        token = self.headers.get("X-App-Token") or params.pop(_TOKEN_PARAM, None)
        reply = self._handle(url.path, params, token)
        # Record before answering: a client that has its response can count on the log.
        if reply.status == 200:
            self.state.faults.record_success()
        self.state.requests.append(RequestRecord(url.path, params, reply.status, reply.rows,
                                                 token is not None, reply.fault))
        send_reply(self, reply)

    def _handle(self, path: str, params: dict[str, str], token: str | None) -> _Reply:
        state = self.state
        endpoint, dataset_id, ext = _route(path)
        dataset = state.datasets.get(dataset_id) if endpoint else None
        if dataset is None:
            return _Reply.of_json(404, {"error": True, "message": "Not found"})
        if state.required_token is not None and token != state.required_token:
            return _Reply.of_json(403, {"code": "permission_denied", "error": True,
                                     "message": "Invalid app_token specified"})
        kind, error_status = state.faults.pick() or (None, 0)
        faulted = self._fault(kind, error_status, dataset_id)
        if faulted is not None:
            return faulted
        if endpoint == "views":
            reply = _Reply.of_json(200, dataset.metadata(), fault=kind)
        else:
            reply = self._data(dataset, ext, params, kind)
        if kind == "malformed" and reply.status == 200:
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        return reply

    def _fault(self, kind: str | None, error_status: int, dataset_id: str) -> _Reply | None:
        """The reply a fault answers with instead of the data, if it does (slow only waits)."""
        if kind == "rate_limit":
            return _Reply.of_json(429, {"error": True, "message": "Too many requests"},
                                  headers={"Retry-After": str(self.state.faults.retry_after)},
                                  fault=kind)
        if kind == "server_error":  # gateways answer 5xx with HTML
            return _Reply(error_status, f"<html><body><h1>{error_status}</h1></body></html>"
                          .encode(), _HTML, fault=kind)
        if kind == "reset":
            return _Reply(0, b"", "", fault=kind)  # do_GET drops the connection
        if kind == "html_200":
            return _Reply(200, _MAINTENANCE_PAGE, _HTML, fault=kind)
        if kind == "bad_request":
            err = SoqlError("query.soql.no-such-column", "No such column: injected_fault",
                            column="injected_fault", dataset=f"alpha.{dataset_id}")
            return _Reply.error(err, fault=kind)
        if kind == "empty_page":
            return _Reply(200, b"[]", _JSON, fault=kind)
        if kind == "slow":
            time.sleep(self.state.faults.slow_seconds)
        return None

    def _data(self, dataset: Dataset, ext: str, params: dict[str, str], kind: str | None) -> _Reply:
        """One page of `dataset` as SODA JSON rows or a GeoJSON FeatureCollection."""
        try:
            query = parse_query(params, dataset.schema)
            rows = dataset.query(query)
        except SoqlError as err:
            err.data.setdefault("dataset", f"alpha.{dataset.dataset_id}")
            return _Reply.error(err, fault=kind)
        select = ("count",) if query.count else query.select
        if ext == "geojson":
            body = json.dumps(_geojson(rows, select, dataset.schema)).encode()
            ctype = "application/vnd.geo+json;charset=utf-8"
        else:
            body, ctype = json.dumps(rows, separators=(",", ":")).encode(), _JSON
        headers = {
            "X-SODA2-Fields": json.dumps(list(select)),
            "X-SODA2-Types": json.dumps(["number" if query.count else dataset.schema.soda_type(c)
                                         for c in select]),
            "X-SODA2-Data-Out-Of-Date": "false",
        }
        return _Reply(200, body, ctype, headers, rows=len(rows), fault=kind)


def _route(path: str) -> tuple[str | None, str, str]:
    """(endpoint, dataset id, extension): "resource" or "views", or None for anything else."""
    if path.startswith("/resource/"):
        name, _, ext = path.removeprefix("/resource/").rpartition(".")
        return ("resource" if ext in ("json", "geojson") else None), name, ext
    if path.startswith("/api/views/"):
        name = path.removeprefix("/api/views/")
        name = name.removesuffix(".json")
        return ("views" if "/" not in name else None), name, "json"
    return None, "", ""


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    fault: str | None = None

    @classmethod
    def of_json(cls, status: int, payload: Any, **kwargs: Any) -> _Reply:
        return cls(status, json.dumps(payload).encode(), _JSON, **kwargs)

    @classmethod
    def error(cls, err: SoqlError, fault: str | None = None) -> _Reply:
        return cls.of_json(400, {"code": err.code, "error": True, "message": err.message,
                              "errorCode": err.code, "data": err.data}, fault=fault)


def send_reply(handler: BaseHTTPRequestHandler, reply: _Reply) -> None:
    """Answers the request with `reply`, or drops the connection for a `reset` fault."""
    if reply.fault == "reset":
        # Linger on with a 0 s timeout makes close() send RST instead of FIN, so
        # the client sees "connection reset by peer", not a clean end of stream.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.rfile.close()  # the socket's fd stays open while its makefile() is
        handler.connection.close()
        return
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(reply.body)))
    for k, v in reply.headers.items():
        handler.send_header(k, v)
    handler.end_headers()
    try:
        handler.wfile.write(reply.body)
    except (BrokenPipeError, ConnectionResetError):  # client gave up (timeouts)
        pass


def _make_server(host: str, port: int, state: _State) -> ThreadingHTTPServer:
    handler = type("SampleSodaHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True  # a hung client must not block shutdown
    return server


class BackgroundServer(ABC):
    """An HTTP server on a daemon thread, for tests and the demo: `start()`/`stop()`, or
    use it as a context manager. Subclasses say how to build the server."""

    _thread_name = "sample-api"

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port  # port 0: a free one
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _make_server(self) -> ThreadingHTTPServer:
        """The server, bound to (host, port) with this API's request handler."""

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() or use it "
                               "as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Any:
        if self._server is None:
            self._server = self._make_server()
            self._server.daemon_threads = True  # a hung client must not block shutdown
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            name=self._thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SampleApi(BackgroundServer):
    """A SODA server on a background thread; use as a context manager.

        with SampleApi(CrimesDataset(10_000, seed=1)) as api:
            requests.get(api.resource_url, params={"$limit": 10})

        with SampleApi(chicago_portal(rows=2_000)) as api:
            requests.get(api.url_of("v6vf-nfxy"), params={"$limit": 10})

    `dataset` is one dataset (served under its own id) or {dataset id: dataset};
    `self.dataset` is the crimes dataset when served, else the first one.
    """

    def __init__(
        self,
        dataset: Dataset | Mapping[str, Dataset] | None = None,
        *,
        faults: Faults | None = None,
        required_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.datasets = _by_id(dataset)
        self.dataset: Any = self.datasets.get(DATASET_ID) or next(iter(self.datasets.values()))
        self.faults = faults if faults is not None else Faults()
        self.requests: list[RequestRecord] = []
        self._state = _State(self.datasets, self.faults, required_token, self.requests)
        super().__init__(host, port)

    _thread_name = "sample-soda"

    def _make_server(self) -> ThreadingHTTPServer:
        return _make_server(self._host, self._port, self._state)

    @property
    def resource_url(self) -> str:
        """The rows endpoint of `self.dataset` (crimes: /resource/ijzp-q8t2.json)."""
        return self.url_of(self.dataset.dataset_id)

    def url_of(self, dataset_id: str, ext: str = "json") -> str:
        """`/resource/<id>.<ext>` of any served dataset (ext: json or geojson)."""
        return f"{self.url}/resource/{dataset_id}.{ext}"

    def views_url(self, dataset_id: str) -> str:
        """The metadata endpoint `/api/views/<id>.json`."""
        return f"{self.url}/api/views/{dataset_id}.json"

    def data_requests(self, dataset_id: str | None = None) -> list[RequestRecord]:
        """Requests that reached a `/resource/` endpoint (of `dataset_id`, if given; any status)."""
        prefix = "/resource/" if dataset_id is None else f"/resource/{dataset_id}."
        return [r for r in self.requests if r.path.startswith(prefix)]

    def metadata_requests(self, dataset_id: str | None = None) -> list[RequestRecord]:
        """Requests that reached `/api/views/` (of `dataset_id`, if given; any status)."""
        return [r for r in self.requests if r.path.startswith("/api/views/") and (
            dataset_id is None or r.path[11:].removesuffix(".json") == dataset_id)]


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    dataset: Dataset | Mapping[str, Dataset] | None = None,
    faults: Faults | None = None,
    required_token: str | None = None,
) -> None:
    """Serve until Ctrl-C (blocking); `dataset` as for `SampleApi` (default 10,000 crimes)."""
    datasets = _by_id(dataset if dataset is not None else CrimesDataset(10_000))
    # A long-running server keeps only recent records.
    state = _State(datasets, faults or Faults(), required_token, deque(maxlen=1000))
    server = _make_server(host, port, state)
    bound_host, bound_port = server.server_address[:2]
    for dataset_id, served in datasets.items():
        log.info("Serving %d rows of %s at http://%s:%s/resource/%s.json", len(served),
                 served.metadata()["name"], bound_host, bound_port, dataset_id)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
