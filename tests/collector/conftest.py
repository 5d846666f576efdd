"""A real collector: `pulse collect` in its own process, on a free port, with its own spool."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.spool import read_records, segment_paths

WRITE_KEYS = "test-key-web=web,test-key-app=app"
PULSE = shutil.which("pulse") or str(Path(os.sys.executable).with_name("pulse"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict


@dataclass
class Collector:
    url: str
    spool: Path
    process: subprocess.Popen
    log: Path

    def post(self, path: str, body, *, key: str | None = "test-key-web",
             content_type: str = "application/json", raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"content-type": content_type}
        if key is not None:
            headers["authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        return self._send(request)

    def get(self, path: str) -> Answer:
        return self._send(urllib.request.Request(self.url + path))

    def _send(self, request) -> Answer:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text, headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            status, text, headers = err.code, err.read(), dict(err.headers)
        try:
            body = json.loads(text)
        except ValueError:
            body = {"text": text.decode()}
        return Answer(status, body, {k.lower(): v for k, v in headers.items()})

    def spooled(self) -> tuple[list[dict], list[dict]]:
        """(events, bad events) in every sealed segment, once the collector sealed them."""
        events, bad = [], []
        for path in segment_paths(self.spool):
            for record in read_records(path):
                doc = json.loads(record)
                events += doc["events"]
                bad += doc["bad"]
        return events, bad

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


def start_collector(spool: Path, log: Path, **env) -> Collector:
    port = free_port()
    environment = {**os.environ, "PULSE_COLLECTOR_WRITE_KEYS": WRITE_KEYS,
                   "PULSE_COLLECTOR_SPOOL": str(spool), **env}
    with open(log, "ab") as out:
        process = subprocess.Popen([PULSE, "collect", "--port", str(port)], env=environment,
                                   stdout=out, stderr=subprocess.STDOUT)
    collector = Collector(f"http://127.0.0.1:{port}", spool, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pulse collect exited: {log.read_text()}")
        try:
            if collector.get("/health").status in (200, 503):
                return collector
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"pulse collect did not answer in 30 s: {log.read_text()}")


@pytest.fixture
def collector(tmp_path):
    running = start_collector(tmp_path / "spool", tmp_path / "collector.log")
    yield running
    running.stop()
