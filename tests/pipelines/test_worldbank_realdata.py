"""Contract test: real recorded World Bank responses go through the source's own checks.

The bodies in ../shared/realdata/worldbank (go-vcr cassettes of the live API) are served
as recorded, status and Content-Type included, by a local HTTP server at their recorded
path, and fetched with the source's HTTP client: real HTTP, real response hooks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient

from pipelines.worldbank import WorldBankApi, WorldBankError
from pipelines.worldbank.helpers import VALUE_SCHEMA, values_table
from pipelines.worldbank.paging import page_meta, world_bank_paginator
from tests.conftest import REALDATA

FOLDER = REALDATA / "worldbank"


# ../shared/realdata is part of the test setup (CI has it): missing, the module fails loudly.
RECORDINGS = json.loads((FOLDER / "MANIFEST.json").read_text())
DATA = [r for r in RECORDINGS if r["status"] == 200 and r["records"] and "/countries/" in r["url"]]
METADATA = [r for r in RECORDINGS if r["status"] == 200 and r["records"] and "/countries/" not in r["url"]]
ERRORS = [r for r in RECORDINGS if r["status"] == 200 and r["meta"] and "message" in r["meta"]]
HTML_400 = [r for r in RECORDINGS if r["status"] == 400]



def _key(url: str) -> tuple[str, tuple]:
    parts = urlsplit(url)
    return parts.path, tuple(sorted(parse_qsl(parts.query)))


class _Recorded(BaseHTTPRequestHandler):
    """Answers a recorded URL (path + query, in any order) with its recorded status and body."""

    by_key: dict = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        recording = self.by_key.get(_key(self.path))
        if recording is None:
            self.send_response(404)
            self.end_headers()
            return
        body = (FOLDER / recording["file"]).read_bytes()
        self.send_response(recording["status"])
        self.send_header("Content-Type", recording["headers"]["Content-Type"][0])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _Recorded.by_key = {_key(r["url"]): r for r in RECORDINGS}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def api(server) -> WorldBankApi:
    """The source's client: its session, hooks and error conversion; no retry waits."""
    http = Client(request_max_attempts=2, request_backoff_factor=0, raise_for_status=False)
    return WorldBankApi(RESTClient(base_url=server, session=http.session), per_page=1000)


def _local(server: str, url: str) -> str:
    parts = urlsplit(url)
    return f"{server}{parts.path}?{parts.query}"


@pytest.mark.parametrize("recording", DATA, ids=lambda r: r["file"])
def test_data_pages_become_typed_rows(recording, api, server):
    rows, meta, url = api.get_page(_local(server, recording["url"]), {})
    recorded = json.loads((FOLDER / recording["file"]).read_text())[1]
    assert len(rows) == recording["records"] == len(recorded)
    assert meta.page == 1 and meta.total == recording["meta"]["total"]
    assert meta.last_updated.isoformat() == recording["meta"]["lastupdated"]

    table = values_table(rows, "NY.GDP.MKTP.CD", meta, url)
    assert table.schema == VALUE_SCHEMA
    out = table.to_pylist()
    for row, raw in zip(out, recorded, strict=True):
        assert row["country_id"] == raw["country"]["id"]  # ISO2 "JP" or an aggregate "1A"
        assert row["country_iso3"] == (raw["countryiso3code"] or None)
        assert row["country_name"] == raw["country"]["value"]
        assert row["year"] == int(raw["date"]) and isinstance(row["year"], int)
        assert row["value"] == raw["value"]  # a float, or None when the API has no value
        assert row["decimal"] == raw["decimal"]
        assert row["last_updated"] == meta.last_updated
    if recording["file"].endswith("List__0.json"):
        assert any(r["value"] is None for r in out), "the full-list sample has missing values"
        assert out[0]["country_id"] == "1A" and out[0]["country_iso3"] == "ARB"


@pytest.mark.parametrize("recording", METADATA, ids=lambda r: r["file"])
def test_metadata_pages_with_string_counts_pass_the_checks(recording, api, server):
    rows, meta, _ = api.get_page(_local(server, recording["url"]), {})
    assert len(rows) == recording["records"]
    assert (meta.page, meta.pages, meta.per_page, meta.total) == tuple(
        int(recording["meta"][k]) for k in ("page", "pages", "per_page", "total"))


@pytest.mark.parametrize("recording", ERRORS, ids=lambda r: r["file"])
def test_message_120_is_a_clear_error_not_data(recording, api, server):
    with pytest.raises(WorldBankError) as caught:
        api.get_page(_local(server, recording["url"]), {})
    err = caught.value
    message = str(err)
    assert err.retriable is False
    assert "120 Invalid value" in message
    assert urlsplit(recording["url"]).path in message  # which request
    if "/indicator" in recording["url"]:
        indicator = urlsplit(recording["url"]).path.rsplit("/", 1)[1]
        assert f"indicator {indicator}" in message
        assert "pipelines/worldbank/indicators.yml" in message  # what to do


@pytest.mark.parametrize("recording", HTML_400, ids=lambda r: r["file"])
def test_http_400_request_error_page_is_a_clear_error(recording, api, server):
    with pytest.raises(WorldBankError) as caught:
        api.get_page(_local(server, recording["url"]), {})
    message = str(caught.value)
    assert caught.value.retriable is False
    assert "HTTP 400" in message and "'Request Error'" in message  # the HTML page's title
    assert "source=invalid_source_id" in message  # which request
    assert "<html" not in message  # no page dump


def test_paginator_reads_page_counts_sent_as_numbers_or_strings(api, server):
    numbers = next(r for r in RECORDINGS if r["file"] == "TestIndicatorValuesService_List__0.json")
    strings = next(r for r in RECORDINGS if r["file"] == "TestSourcesService_Get__0.json")
    assert isinstance(strings["meta"]["pages"], str)

    for recording, next_page in ((numbers, 2), (strings, None)):
        response = api.client.session.get(_local(server, recording["url"]))
        body = response.json()
        paginator = world_bank_paginator()
        paginator.update_state(response, body[1])
        assert paginator.has_next_page is (next_page is not None)
        if next_page:
            assert paginator.current_value == next_page
        assert page_meta(body).pages == int(recording["meta"]["pages"])


def test_a_page_past_the_end_stops_paging(api, server):
    numbers = next(r for r in RECORDINGS if r["file"] == "TestIndicatorValuesService_List__0.json")
    response = api.client.session.get(_local(server, numbers["url"]))
    paginator = world_bank_paginator()
    paginator.update_state(response, [])  # [meta, null]: no rows, whatever meta says
    assert paginator.has_next_page is False
