"""The ASGI application of `pulse serve` (Starlette): the portal's files, the report API,
/health and /metrics.

The API reads as the analyst role, /health and /metrics as the transformer (which reads
the raw tables), each in a read-only transaction with a statement timeout. Every report
request needs an API key (`PULSE_API_KEYS`, `key=name,...`; `Authorization: Bearer key`)
and is limited per key (`PULSE_API_RATE_PER_MINUTE`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles

from pulse.reports import ReportModel, csv_lines
from pulse.warehouse import Connection

from .catalog import ApiReport, read_catalog
from .health import CACHE_SECONDS, HealthCache, metric_families, read_snapshot
from .openapi import openapi_document
from .query import BadRequest, ReportQuery, parse

KEYS_ENV = "PULSE_API_KEYS"
RATE_ENV = "PULSE_API_RATE_PER_MINUTE"
DEFAULT_RATE = 600
STATEMENT_TIMEOUT_MS = 15_000


class SettingsError(ValueError):
    """`pulse serve`'s configuration is unusable; the message says which variable."""


def api_keys(text: str | None = None) -> dict[str, str]:
    """`PULSE_API_KEYS` ("key=name,key2=name2") as {key: name}. Keys are secrets: an error
    names the entry by position, never by its text."""
    text = os.environ.get(KEYS_ENV, "") if text is None else text
    keys: dict[str, str] = {}
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key, sep, name = entry.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise SettingsError(f"{KEYS_ENV}: entry {position} is not key=name")
        if len(key.strip()) < 16:
            raise SettingsError(f"{KEYS_ENV}: the key of entry {position} ({name.strip()}) is "
                                "shorter than 16 characters: use a long random key")
        keys[key.strip()] = name.strip()
    return keys


class RateLimit:
    """A token bucket per key: `per_minute` requests a minute, in bursts of as many."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go, else the seconds until it may."""
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate


@dataclass(frozen=True)
class ServeConfig:
    analyst: Connection  # the API's reads
    monitor: Connection  # /health and /metrics (the transformer: it reads raw)
    manifest: Mapping[str, Any]
    models: tuple[ReportModel, ...]
    portal_dir: Path
    keys: Mapping[str, str]
    rate_per_minute: int = DEFAULT_RATE
    health_seconds: float = CACHE_SECONDS  # how long a /health snapshot is served


def connect(conn: Connection) -> psycopg.Connection:
    return psycopg.connect(conn.url(), autocommit=False, options=(
        f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} "
        "-c timezone=UTC"))


def create_app(config: ServeConfig) -> Starlette:
    requests: Counter = Counter()
    limits = RateLimit(config.rate_per_minute)
    report_ids = {m.name: m.unique_id for m in config.models}

    def read_health():
        with connect(config.monitor) as conn:
            return read_snapshot(conn, config.manifest, report_ids)

    health_cache = HealthCache(read_health, config.health_seconds)

    def catalog(conn: psycopg.Connection) -> dict[str, ApiReport]:
        return read_catalog(conn, config.models)

    def authorised(request: Request) -> str | Response:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        name = config.keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            why = ("no API keys are configured: set PULSE_API_KEYS" if not config.keys else
                   "send an API key: Authorization: Bearer <key>" if not header else
                   "the API key is not valid")
            return _error(401, why, {"WWW-Authenticate": 'Bearer realm="pulse"'})
        if (wait := limits.take(name)) > 0:
            return _error(429, f"more than {config.rate_per_minute} requests a minute for "
                          f"this key: retry in {math.ceil(wait)} s",
                          {"Retry-After": str(math.ceil(wait))})
        return name

    def list_reports(request: Request) -> Response:
        if isinstance(who := authorised(request), Response):
            return who
        with connect(config.analyst) as conn:
            reports = catalog(conn)
            listed = []
            for report in reports.values():
                with conn.cursor() as cur:
                    cur.execute(ReportQuery(report).count_sql())
                    listed.append(report.summary(cur.fetchone()[0]))
        return JSONResponse({"reports": listed})

    def get_report(request: Request) -> Response:
        if isinstance(who := authorised(request), Response):
            return who
        name = request.path_params["report"]
        with connect(config.analyst) as conn:
            report = catalog(conn).get(name)
            if report is None:
                return _error(403, f"no report {name!r} for this key: GET /api/v1/reports "
                              "lists the reports")
            try:
                query = parse(report, list(request.query_params.multi_items()))
            except BadRequest as err:
                return _error(400, str(err))
            validators = _validators(report, request)
            if _not_modified(request, validators):
                return Response(status_code=304, headers=validators)
            with conn.cursor() as cur:
                cur.execute(query.count_sql(), query.params)
                total = cur.fetchone()[0]
                cur.execute(query.rows_sql(), query.params)
                rows = cur.fetchall()
        if query.format == "csv":
            lines = csv_lines([c.name for c in report.columns],
                              [c.csv_kind for c in report.columns], rows)
            return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers={
                **validators, "X-Total-Count": str(total),
                "Content-Disposition": f'inline; filename="{report.name}.csv"'})
        names = [c.name for c in report.columns]
        following = query.offset + len(rows)
        body = {
            "report": report.name, "refreshed_at": _iso(report.refreshed_at), "total": total,
            "limit": query.limit, "offset": query.offset, "columns": names,
            "rows": [dict(zip(names, map(_cell, row), strict=True)) for row in rows],
            "next": _next_url(request, following) if following < total else None,
        }
        return Response(json.dumps(body, default=_json_default, ensure_ascii=False),
                        media_type="application/json", headers=validators)

    def openapi(request: Request) -> Response:
        with connect(config.analyst) as conn:
            reports = catalog(conn)
        return JSONResponse(openapi_document(reports.values()))

    def health(request: Request) -> Response:
        snapshot = health_cache.get()
        return JSONResponse(snapshot.to_json(), status_code=200 if snapshot.healthy else 503)

    def metrics(request: Request) -> Response:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        snapshot = health_cache.get()
        registry = _Registry(lambda: metric_families(snapshot, dict(requests)))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/api/v1/reports", list_reports),
        Route("/api/v1/reports/{report}", get_report),
        Route("/api/v1/openapi.json", openapi),
        Route("/health", health),
        Route("/metrics", metrics),
    ]
    if config.portal_dir.is_dir():
        routes.append(Mount("/", StaticFiles(directory=config.portal_dir, html=True)))
    return Starlette(routes=routes, middleware=[Middleware(CountRequests, routes=routes,
                                                           counter=requests)])


class CountRequests:
    """ASGI middleware: each answer counted by route template and status (/metrics)."""

    def __init__(self, app, routes: list, counter: Counter) -> None:
        self.app, self.routes, self.counter = app, routes, counter

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = next((r.path for r in self.routes if isinstance(r, Route)
                      and r.matches(scope)[0] == Match.FULL), "portal")

        async def counted(message) -> None:
            if message["type"] == "http.response.start":
                self.counter[(route, str(message["status"]))] += 1
            await send(message)

        await self.app(scope, receive, counted)


class _Registry:
    """What prometheus_client's generate_latest reads: a `collect()`."""

    def __init__(self, collect: Callable) -> None:
        self.collect = collect


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": message, "status": status}, status_code=status,
                        headers=dict(headers or {}))


def _validators(report: ApiReport, request: Request) -> dict[str, str]:
    """ETag and Last-Modified of this answer: the same report, built at the same time,
    asked the same way, is the same answer."""
    built = report.refreshed_at
    asked = urlencode(sorted(request.query_params.multi_items()))
    tag = hashlib.sha256(f"{report.name}\n{_iso(built)}\n{asked}".encode()).hexdigest()[:32]
    headers = {"ETag": f'"{tag}"', "Cache-Control": "private, no-cache"}
    if built is not None:
        headers["Last-Modified"] = format_datetime(built.astimezone(dt.UTC), usegmt=True)
    return headers


def _not_modified(request: Request, validators: Mapping[str, str]) -> bool:
    if match := request.headers.get("if-none-match"):
        return validators["ETag"] in {t.strip().removeprefix("W/") for t in match.split(",")}
    since, modified = request.headers.get("if-modified-since"), validators.get("Last-Modified")
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _next_url(request: Request, offset: int) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    return f"{request.url.path}?{urlencode([*items, ('offset', str(offset))])}"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _cell(value: Any) -> Any:
    """A value as JSON has it: numbers as numbers when they read back exactly (a numeric
    with more digits than a double holds, NaN and infinities as text), times in ISO 8601."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Decimal):
        exact = value.is_finite() and Decimal(repr(float(value))) == value
        return float(value) if exact else str(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)
