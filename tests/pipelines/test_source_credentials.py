"""A base URL with credentials in it (a proxy's `http://user:password@host/...`) loads, and
the password appears in no error, log line or dlt state: neither the pipeline's local state
nor the `_dlt_pipeline_state` rows in the warehouse.

The local World Bank and OECD APIs sit behind a real HTTP proxy that answers 401 unless the
request carries the proxy's basic-auth credentials, so a load that succeeds proves they
were sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from dlt.common.versioned_state import decompress_state

from pipelines.load import causes
from pipelines.oecd import OecdError, dataflow_pipeline, load_oecd
from pipelines.urls import safe_url, split_credentials
from pipelines.worldbank import WorldBankError, load_worldbank, worldbank_pipeline
from sample_api.countries import CountryUniverse
from tests.conftest import query

PASSWORD = "s3cret"
USER = "proxyuser"


@pytest.fixture
def universe() -> CountryUniverse:
    return CountryUniverse(seed=2026, countries=8, first_year=2015, last_year=2024)


class _AuthProxy(BaseHTTPRequestHandler):
    """Forwards GETs to `upstream` when they carry `expected` as Authorization, else 401."""

    upstream: str
    expected: str
    refused: list[str]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server naming)
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.headers.get("Authorization") != self.expected:
            self.refused.append(self.path)
            self._reply(401, b"proxy authentication required", {"Content-Type": "text/plain"})
            return
        answer = requests.get(self.upstream + self.path, timeout=30)
        headers = {k: v for k, v in answer.headers.items()
                   if k.lower() in ("content-type", "retry-after")}
        self._reply(answer.status_code, answer.content, headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy(api) -> Iterator[tuple[str, list[str]]]:
    """(the proxy's base URL with user:password in it, the paths it refused)."""
    with serve_proxy(api.url) as served:
        yield served


@contextlib.contextmanager
def serve_proxy(upstream: str) -> Iterator[tuple[str, list[str]]]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    refused: list[str] = []
    handler = type("Proxy", (_AuthProxy,), {"upstream": upstream, "expected": f"Basic {token}",
                                            "refused": refused})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{USER}:{PASSWORD}@127.0.0.1:{server.server_port}", refused
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def logs(caplog):
    """Every log record, dlt's INFO and DEBUG ones (which name each request's URL) included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="dlt")
    return caplog


def everything_said(err: BaseException) -> str:
    """The error and every error it was raised from, as they would be printed."""
    return "\n".join(f"{type(e).__name__}: {e!r} {e}" for e in causes(err))


def warehouse_states(conn, schema: str, pipeline_name: str) -> list[dict]:
    """Every dlt state the warehouse holds for the pipeline, decoded as dlt restores it."""
    rows = query(conn, f"select state from {schema}._dlt_pipeline_state where pipeline_name = %s",
                 (pipeline_name,))
    return [decompress_state(state) for (state,) in rows]


def test_safe_url_removes_userinfo_and_tokens_and_keeps_the_rest():
    assert safe_url("https://u:p%40ss@Proxy.Example:8443/v2/country?format=json&page=2") == \
        "https://Proxy.Example:8443/v2/country?format=json&page=2"
    assert safe_url("http://u:pw@[::1]:81/x") == "http://[::1]:81/x"  # the brackets stay
    assert safe_url("https://portal/resource/ab12-cd34.json?$$app_token=t0k&$limit=5") == \
        "https://portal/resource/ab12-cd34.json?$limit=5"
    url, auth = split_credentials("https://u%40corp:p%3Ass@proxy/v2")
    assert (url, auth.username, auth.password) == ("https://proxy/v2", "u@corp", "p:ss")
    assert split_credentials("https://proxy/v2") == ("https://proxy/v2", None)


def test_worldbank_through_an_authenticating_proxy_leaks_no_password(
        api, proxy, logs, warehouse_db, tmp_path):
    base_url, refused = proxy
    query(warehouse_db, "drop schema if exists raw_worldbank cascade")
    dlt_dir = tmp_path / "dlt"
    api.faults.server_error_next = 1_000  # every request fails: an error naming its URL
    with pytest.raises(WorldBankError) as failed:
        load_worldbank(pipelines_dir=dlt_dir, base_url=f"{base_url}/v2", max_attempts=2,
                       backoff_factor=0)
    said = everything_said(failed.value)
    assert "HTTP 503" in said and "127.0.0.1" in said  # it still says where
    assert PASSWORD not in said and PASSWORD not in logs.text

    api.faults.reset()
    load_worldbank(pipelines_dir=dlt_dir, base_url=f"{base_url}/v2", backoff_factor=0)
    assert refused == []  # every request carried the proxy's credentials
    assert query(warehouse_db, "select count(*) from raw_worldbank.indicator_values")[0][0] > 0
    assert PASSWORD not in logs.text
    pipeline = worldbank_pipeline(dlt_dir)
    assert PASSWORD not in json.dumps(pipeline.state, default=str)
    stored = warehouse_states(warehouse_db, "raw_worldbank", pipeline.pipeline_name)
    assert stored and PASSWORD not in json.dumps(stored, default=str)


def test_oecd_through_an_authenticating_proxy_leaks_no_password(
        api, proxy, logs, warehouse_db, tmp_path):
    base_url, refused = proxy
    query(warehouse_db, "drop schema if exists raw_oecd cascade")
    dlt_dir = tmp_path / "dlt"
    args = {"pipelines_dir": dlt_dir, "base_url": f"{base_url}/public/rest", "backoff_factor": 0,
            "requests_per_hour": 1000, "min_seconds_between_requests": 0,
            "ledger_path": str(tmp_path / "ledger.json")}
    api.faults.server_error_next = 1_000
    with pytest.raises(OecdError) as failed:
        load_oecd(["gdp"], max_attempts=2, **args)
    said = everything_said(failed.value)
    assert "HTTP 503" in said and "127.0.0.1" in said
    assert PASSWORD not in said and PASSWORD not in logs.text

    api.faults.reset()
    load_oecd(["gdp"], **args)
    assert refused == []
    assert query(warehouse_db, "select count(*) from raw_oecd.gdp")[0][0] > 0
    assert PASSWORD not in logs.text
    pipeline = dataflow_pipeline("gdp", dlt_dir)
    state = json.dumps(pipeline.state, default=str)
    assert "/public/rest/data/" in state and PASSWORD not in state  # the URL, without userinfo
    stored = warehouse_states(warehouse_db, "raw_oecd", pipeline.pipeline_name)
    assert stored and PASSWORD not in json.dumps(stored, default=str)
    assert USER not in json.dumps(stored, default=str)


def test_chicago_through_an_authenticating_proxy_leaks_no_password(logs, warehouse_db, tmp_path):
    """With an app token too: the token is dlt's request auth, the proxy's a session header."""
    from pipelines.chicago import SocrataError, dataset_pipeline, load_dataset
    from sample_api import CrimesDataset, SampleApi

    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    with SampleApi(CrimesDataset(500, seed=3)) as api, serve_proxy(api.url) as (base_url, refused):
        pipeline = dataset_pipeline("crimes", pipelines_dir=tmp_path / "dlt")
        api.faults.server_error_next = 1_000
        with pytest.raises(SocrataError) as failed:
            load_dataset("crimes", pipeline, base_url=base_url, app_token="tok",
                         max_attempts=2, backoff_factor=0)
        said = everything_said(failed.value)
        assert "HTTP 5" in said and "127.0.0.1" in said
        assert PASSWORD not in said and PASSWORD not in logs.text

        api.faults.reset()
        load_dataset("crimes", pipeline, base_url=base_url, app_token="tok", backoff_factor=0)
        assert refused == []
        assert query(warehouse_db, "select count(*) from raw_chicago.crimes") == [(500,)]
        assert PASSWORD not in logs.text
        assert PASSWORD not in json.dumps(pipeline.state, default=str)
