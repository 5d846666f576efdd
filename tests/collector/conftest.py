"""A real collector: `pulse collect` in its own process, on a free port, with its own spool."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.spool import read_records, segment_paths
from sample_api.collector_process import CollectorProcess
from sample_api.collector_process import start_collector as sample_start_collector

WRITE_KEYS = "test-key-web=web,test-key-app=app"


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict


@dataclass
class Collector(CollectorProcess):
    """A running collector with the HTTP helpers the tests use."""

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
                for event in doc["events"]:  # JSON columns are JSON text in the spool
                    for column in ("properties", "traits", "context"):
                        if event[column] is not None:
                            event[column] = json.loads(event[column])
                events += doc["events"]
                bad += doc["bad"]
        return events, bad


def start_collector(spool: Path, log: Path, **env) -> Collector:
    running = sample_start_collector(spool, log, write_keys=WRITE_KEYS, **env)
    return Collector(running.url, running.spool, running.process, running.log)


@pytest.fixture
def collector(tmp_path):
    running = start_collector(tmp_path / "spool", tmp_path / "collector.log")
    yield running
    running.stop()
