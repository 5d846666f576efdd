"""The collector's HTTP API, as a bare ASGI app (no framework: each request is a few
hundred microseconds of work, and the durable part is the spool's fsync).

    POST /v1/track /v1/identify /v1/page /v1/screen /v1/group /v1/alias /v1/batch
         (Segment's HTTP API; the write key is the basic-auth user)
    POST /v1/event   (a JSON array of events with event_type_id 0/1/2, the seed's API)
    GET  /health     (spool, disk, what waits for the drain)
    GET  /metrics    (Prometheus text)

A 200 means every event of the request, valid or bad, is fsynced in the spool. When the
spool is over its cap or the disk is short, the answer is 503 with Retry-After and nothing
is kept: the client retries, as every Segment SDK does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import shutil
import time
from collections import Counter
from datetime import UTC, datetime

from . import fastjson
from .events import MAX_REQUEST_BYTES, RequestError, parse_body, split_request
from .settings import CollectorSettings
from .spool import MAX_RECORD_BYTES, Spool, SpoolFull, segment_paths

SEGMENT_PATHS = {f"/v1/{kind}": kind for kind in
                 ("track", "identify", "page", "screen", "group", "alias")}
SEGMENT_PATHS.update({"/v1/batch": None, "/v1/import": None, "/v1/event": "event"})
JSON_TYPES = ("application/json", "text/plain")  # text/plain: navigator.sendBeacon's
MAX_STORED_BYTES = MAX_RECORD_BYTES // 4  # a request's record, well under what a segment reads


def _json(status: int, body: dict, headers: list | None = None) -> tuple[int, bytes, list]:
    return status, json.dumps(body).encode(), [(b"content-type", b"application/json")] + (headers or [])


class Metrics:
    def __init__(self):
        self.requests: Counter = Counter()  # (path, status)
        self.accepted: Counter = Counter()  # source
        self.rejected: Counter = Counter()  # reason

    def render(self, spool: Spool) -> bytes:
        lines = ["# TYPE pulse_collector_requests_total counter"]
        lines += [f'pulse_collector_requests_total{{path="{p}",status="{s}"}} {n}'
                  for (p, s), n in sorted(self.requests.items())]
        lines.append("# TYPE pulse_collector_events_accepted_total counter")
        lines += [f'pulse_collector_events_accepted_total{{source="{s}"}} {n}'
                  for s, n in sorted(self.accepted.items())]
        lines.append("# TYPE pulse_collector_events_rejected_total counter")
        lines += [f'pulse_collector_events_rejected_total{{reason="{r}"}} {n}'
                  for r, n in sorted(self.rejected.items())]
        syncs = sorted(spool.stats.sync_seconds)
        lines.append("# TYPE pulse_collector_fsync_seconds summary")
        for q in (0.5, 0.95, 0.99):
            value = syncs[min(len(syncs) - 1, int(q * len(syncs)))] if syncs else 0.0
            lines.append(f'pulse_collector_fsync_seconds{{quantile="{q}"}} {value:.6f}')
        lines.append(f"pulse_collector_fsync_seconds_count {spool.stats.syncs}")
        pending = segment_paths(spool.folder)
        lines += [
            "# TYPE pulse_collector_spool_bytes gauge",
            f"pulse_collector_spool_bytes {spool.spooled_bytes()}",
            "# TYPE pulse_collector_segments_waiting gauge",
            f"pulse_collector_segments_waiting {len(pending)}",
            "# HELP pulse_collector_sink_lag_seconds age of the oldest segment the drain has "
            "not yet delivered to every sink",
            "# TYPE pulse_collector_sink_lag_seconds gauge",
            f"pulse_collector_sink_lag_seconds {_oldest_age(pending):.3f}",
        ]
        return ("\n".join(lines) + "\n").encode()


def _oldest_age(segments) -> float:
    if not segments:
        return 0.0
    return max(0.0, time.time() - int(segments[0].stem) / 1e9)


class CollectorApp:
    def __init__(self, settings: CollectorSettings):
        self.settings = settings
        self.spool = Spool(settings.spool_dir, cap_bytes=settings.spool_cap_bytes,
                           segment_bytes=settings.segment_bytes,
                           seal_after_seconds=settings.seal_after_seconds,
                           min_free_bytes=settings.min_free_bytes)
        self.metrics = Metrics()
        self._sealer: asyncio.Task | None = None
        self._room_checked_at = 0.0
        self._room_error: SpoolFull | None = None

    # -- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        status, body, headers = await self._handle(scope, receive)
        self.metrics.requests[(scope["path"] if scope["path"] in SEGMENT_PATHS
                               or scope["path"] in ("/health", "/metrics") else "other", status)] += 1
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.spool.open()
                except Exception as err:  # noqa: BLE001 - reported to uvicorn, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                self._sealer = asyncio.get_running_loop().create_task(self._seal_periodically())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sealer:
                    self._sealer.cancel()
                self.spool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _seal_periodically(self):
        while True:
            await asyncio.sleep(self.settings.seal_after_seconds / 2)
            await asyncio.get_running_loop().run_in_executor(None, self.spool.seal_if_due)

    # -- requests -------------------------------------------------------------------

    async def _handle(self, scope, receive) -> tuple[int, bytes, list]:
        path, method = scope["path"], scope["method"]
        if path == "/health" and method == "GET":
            return self._health()
        if path == "/metrics" and method == "GET":
            return 200, self.metrics.render(self.spool), [(b"content-type", b"text/plain; version=0.0.4")]
        if path not in SEGMENT_PATHS:
            return _json(404, {"error": f"no endpoint {path}; events go to /v1/batch, "
                                        "/v1/track (and the other Segment calls) or /v1/event"})
        if method != "POST":
            return _json(405, {"error": f"{path} takes POST"}, [(b"allow", b"POST")])
        headers = dict(scope["headers"])
        try:
            return await self._ingest(path, headers, receive)
        except RequestError as err:
            return _json(err.status, {"error": err.message},
                         [(b"www-authenticate", b'Basic realm="pulse"')] if err.status == 401 else [])
        except SpoolFull as err:
            return self._full(err)

    async def _ingest(self, path: str, headers: dict, receive) -> tuple[int, bytes, list]:
        received_at = datetime.now(UTC)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1")
        if content_type.lower() not in JSON_TYPES:
            raise RequestError(415, f"content-type {content_type or '(none)'} is not "
                                    "application/json")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_REQUEST_BYTES:
            raise RequestError(413, f"the body is {int(length):,} bytes; a request takes at "
                                    f"most {MAX_REQUEST_BYTES:,} (send smaller batches)")
        source = self._source(headers.get(b"authorization"))
        self._check_room()
        body = await self._read_body(receive)
        parsed = parse_body(body)
        # analytics.js may send the key in the body: it is a secret, and never stored
        body_key = parsed.pop("writeKey", None) if isinstance(parsed, dict) else None
        if source is None:
            source = self._source_of_key(body_key)
        if source is None:
            raise RequestError(401, "no valid write key: send it as the basic-auth user "
                                    "(Authorization: Basic base64(key + ':'))")
        events, bad = split_request(SEGMENT_PATHS[path], parsed, source=source,
                                    received_at=received_at)
        if events or bad:
            record = fastjson.dumps({"events": events, "bad": bad})
            if len(record) > MAX_STORED_BYTES:  # many calls, each given the batch's context
                raise RequestError(413, f"the request expands to {len(record):,} bytes of "
                                        f"events (at most {MAX_STORED_BYTES:,}): send fewer calls "
                                        "per batch or a smaller batch context")
            await self.spool.append(record)
        self.metrics.accepted[source] += len(events)
        for item in bad:
            self.metrics.rejected[item["reason"]] += 1
        answer = {"success": True, "accepted": len(events)}
        if bad:
            answer["rejected"] = [{"index": b["item_index"], "reason": b["reason"],
                                   "detail": b["detail"]} for b in bad]
        return _json(200, answer)

    async def _read_body(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise RequestError(413, f"the body is over {MAX_REQUEST_BYTES:,} bytes "
                                        "(send smaller batches)")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _source(self, authorization: bytes | None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"basic":
            raise RequestError(401, "authorization must be Basic, with the write key as user")
        try:
            user = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise RequestError(401, "the basic-auth credentials are not valid base64") from None
        source = self._source_of_key(user)
        if source is None:
            raise RequestError(401, "unknown write key")
        return source

    def _source_of_key(self, key) -> str | None:
        if not isinstance(key, str) or not key:
            return None
        found = None
        given = key.encode("utf-8", "surrogatepass")
        for known, source in self.settings.write_keys.items():  # constant time per key
            if hmac.compare_digest(known.encode(), given):
                found = source
        return found

    def _check_room(self) -> None:
        # The spool's size and the disk's free space are read at most 4 times a second: a
        # stat of every segment per request would cost more than the request.
        now = time.monotonic()
        if now - self._room_checked_at > 0.25:
            self._room_checked_at = now
            try:
                self.spool.check_room()
                self._room_error = None
            except SpoolFull as err:
                self._room_error = err
        if self._room_error is not None:
            raise self._room_error

    def _full(self, err: SpoolFull) -> tuple[int, bytes, list]:
        self._room_checked_at = 0.0  # look again on the next request
        retry = str(self.settings.retry_after_seconds).encode()
        return _json(503, {"error": f"{err}; nothing of this request was kept, retry later"},
                     [(b"retry-after", retry)])

    def _health(self) -> tuple[int, bytes, list]:
        pending = segment_paths(self.spool.folder)
        free = shutil.disk_usage(self.spool.folder).free
        try:
            self.spool.check_room()
            room = "ok"
        except SpoolFull as err:
            room = str(err)
        body = {
            "status": "ok" if room == "ok" else "full",
            "spool": {"folder": str(self.spool.folder), "bytes": self.spool.spooled_bytes(),
                      "cap_bytes": self.spool.cap_bytes, "room": room},
            "disk": {"free_bytes": free, "min_free_bytes": self.spool.min_free_bytes},
            "sinks": {"segments_waiting": len(pending),
                      "oldest_waiting_seconds": round(_oldest_age(pending), 3)},
        }
        return _json(200 if room == "ok" else 503, body)
