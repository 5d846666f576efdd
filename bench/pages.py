"""The sample API's pages, rendered once and served as bytes: the network ceiling's server.

The local API (sample_api) builds every row in Python as it is asked, about 11,000 rows/s;
a loader that reads it waits on that. `render_pages` asks it for every keyset page of a
dataset once and keeps the exact bytes it answered; `page_server` then serves those bytes
from memory, from a process of its own, to the network ceiling (bench/ceiling.py) and to
Pulse's backfill alike, so both pay the HTTP transfer and none of the rendering.

    .venv/bin/python -m bench.pages --dir /tmp/pages/crimes --port 8766

It answers only what a backfill asks: `/resource/<id>.json` with `$select=:*,*`,
`$order=:updated_at,:id`, the `$limit` the pages were rendered with, and a `$where` that
starts before the first row, with or without a keyset position `(:updated_at = S and
:id > I)` at a page's last row. Anything else is a 400 that says what it serves.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests

from bench.api import free_port

INDEX = "index.json"
START = "2001-01-01T00:00:00.000Z"  # before every row the sample API serves
SELECT, ORDER = ":*,*", ":updated_at,:id"
_JSON = "application/json;charset=utf-8"
# the keyset position both the ceiling and Pulse's SocrataKeysetPaginator write
_AFTER = re.compile(r":updated_at = '((?:[^']|'')*)' and :id > '((?:[^']|'')*)'")
_LOWER = re.compile(r":updated_at > '((?:[^']|'')*)'")


def keyset_where(after: tuple[str, str] | None, start: str = START) -> str:
    """The `$where` of the page after `after` (a row's (:updated_at, :id)), as the ceiling asks."""
    where = f":updated_at > '{start}'"
    if after is None:
        return where
    stamp, row_id = (v.replace("'", "''") for v in after)
    return f"{where} and (:updated_at > '{stamp}' or (:updated_at = '{stamp}' and :id > '{row_id}'))"


def render_pages(base_url: str, dataset_id: str, out: Path, page_size: int = 50_000) -> dict[str, Any]:
    """Asks the API at `base_url` for every keyset page of `dataset_id` and writes each body
    to `out` as sent; returns rows, pages, bytes and `seconds`: the time from each request
    to its last byte, summed (the bodies' parse and write are left out: they are not the
    API's)."""
    out.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/resource/{dataset_id}.json"
    pages: list[dict[str, Any]] = []
    rows = size = 0
    seconds = 0.0
    after: tuple[str, str] | None = None
    with requests.Session() as http:
        while True:
            params = {"$select": SELECT, "$where": keyset_where(after), "$order": ORDER,
                      "$limit": page_size}
            started = time.perf_counter()
            response = http.get(url, params=params, timeout=300)
            body = response.content
            seconds += time.perf_counter() - started
            response.raise_for_status()
            data = orjson.loads(body)
            name = f"{len(pages):05d}.json"
            (out / name).write_bytes(body)
            pages.append({"file": name, "rows": len(data), "after": after})
            rows += len(data)
            size += len(body)
            if len(data) < page_size:
                break
            after = (data[-1][":updated_at"], data[-1][":id"])
    (out / INDEX).write_text(json.dumps({"dataset_id": dataset_id, "page_size": page_size,
                                         "first_stamp": _first_stamp(out, pages), "pages": pages}))
    return {"rows": rows, "pages": len(pages), "bytes": size, "seconds": seconds}


def _first_stamp(out: Path, pages: list[dict[str, Any]]) -> str | None:
    first = orjson.loads((out / pages[0]["file"]).read_bytes()) if pages[0]["rows"] else []
    return first[0][":updated_at"] if first else None


class PageSet:
    """Rendered pages in memory: the body that answers each keyset request."""

    def __init__(self, folder: Path) -> None:
        index = json.loads((folder / INDEX).read_text())
        self.dataset_id: str = index["dataset_id"]
        self.page_size: int = index["page_size"]
        self.first_stamp: str | None = index["first_stamp"]
        self.bodies = [(folder / p["file"]).read_bytes() for p in index["pages"]]
        self.rows = sum(p["rows"] for p in index["pages"])
        # the position a page starts after -> that page; after the last full page: []
        self.by_after: dict[tuple[str, str] | None, bytes] = {
            (tuple(p["after"]) if p["after"] else None): body
            for p, body in zip(index["pages"], self.bodies, strict=True)}
        if index["pages"][-1]["rows"] == self.page_size:  # a full last page: one more, empty
            last = orjson.loads(self.bodies[-1])[-1]
            self.by_after[(last[":updated_at"], last[":id"])] = b"[]"

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) for a GET of `path` with `params`."""
        if path != f"/resource/{self.dataset_id}.json":
            return 404, _error(f"only /resource/{self.dataset_id}.json is served, not {path}")
        expected = {"$select": SELECT, "$order": ORDER, "$limit": str(self.page_size)}
        wrong = {k: params.get(k) for k, v in expected.items() if params.get(k) != v}
        if wrong:
            return 400, _error(f"pre-rendered pages answer {expected}, not {wrong}")
        where = params.get("$where", "")
        lower = _LOWER.search(where)
        if not lower or (self.first_stamp and not _before(lower.group(1), self.first_stamp)):
            return 400, _error(f"pre-rendered pages answer a backfill: $where must start with "
                               f":updated_at > a stamp before {self.first_stamp}, not {where!r}")
        positions = _AFTER.findall(where)
        after = tuple(v.replace("''", "'") for v in positions[-1]) if positions else None
        body = self.by_after.get(after)
        if body is None:
            return 400, _error(f"no page was rendered after position {after}: the pages answer "
                               "keyset requests at page boundaries only")
        return 200, body


def _before(stamp: str, first: str) -> bool:
    return datetime.fromisoformat(stamp) < datetime.fromisoformat(first)


def _error(message: str) -> bytes:
    return json.dumps({"error": True, "message": message}).encode()


def _make_server(host: str, port: int, pages: PageSet) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            url = urlsplit(self.path)
            status, body = pages.answer(url.path, dict(parse_qsl(url.query, keep_blank_values=True)))
            self.send_response(status)
            self.send_header("Content-Type", _JSON)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


@contextmanager
def page_server(folder: str | Path) -> Iterator[str]:
    """Serves the pages rendered into `folder` from a process of its own; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.pages", "--dir", str(folder), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
                    raise RuntimeError(f"the page server for {folder} did not start "
                                       f"(exit {proc.poll()}): {err}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="a folder render_pages wrote")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = _make_server("127.0.0.1", args.port, PageSet(args.dir))
    try:
        server.serve_forever()  # until terminated
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
