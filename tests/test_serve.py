"""`pulse serve` over real HTTP against the test warehouse: the report API's filters,
order, paging, formats, keys and every error code; /health turning unhealthy on a stale
source or a failing dbt test; /metrics as Prometheus text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import uvicorn

from pulse import roles
from pulse.reports import ReportModel
from pulse.serve.app import ServeConfig, api_keys, create_app
from pulse.warehouse import PROJECT_ROOT
from tests.conftest import query

KEY, OTHER_KEY = "k" * 20, "o" * 20
TABLE = "rpt_test__served"
ROWS = [  # area, day, crimes, rate, label
    (25, dt.date(2026, 3, 1), 40, "0.25", "Austin"),
    (25, dt.date(2026, 3, 2), 35, "0.50", "Austin"),
    (8, dt.date(2026, 2, 27), 12, "0.125", "Near North Side"),
    (8, dt.date(2026, 3, 3), 9, None, "=HYPERLINK(\"x\")"),
    (32, dt.date(2026, 3, 4), 50, "1.75", "Loop"),
]
SOURCE = {"source.pulse.test.loads": {
    "schema": "raw_test", "identifier": "loads", "name": "loads", "source_name": "test",
    "loaded_at_field": "to_timestamp(_dlt_load_id::double precision)",
    "freshness": {"warn_after": {"count": 1, "period": "hour"},
                  "error_after": {"count": 2, "period": "hour"}}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The ASGI app under uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, config: ServeConfig) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1",
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def get(self, path: str, key: str | None = KEY, headers: dict | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={**({"Authorization": f"Bearer {key}"} if key
                                                     else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, path: str, **kwargs):
        status, headers, body = self.get(path, **kwargs)
        return status, json.loads(body) if body else None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(warehouse_db, tmp_path_factory):
    """A report mart the analyst may read, a raw table with a freshness threshold, dbt's
    results table, and the server over them."""
    analyst = roles.role("analyst").name(warehouse_db.database)
    query(warehouse_db, f"""
        drop table if exists marts.{TABLE};
        create table marts.{TABLE} (community_area_number integer, crime_date date,
            crime_count bigint, arrest_rate numeric(6, 3), area_name text);
        grant select on marts.{TABLE} to {analyst};
        create schema if not exists raw_test;
        drop table if exists raw_test.loads;
        create table raw_test.loads (id int, _dlt_load_id text);
        insert into raw_test.loads values (1, extract(epoch from now())::text);
    """)
    # As dbt's on-run-end creates it, as the transformer (dbt_project/macros/run_results.sql).
    query(roles.connection("transformer"), f"""
        create table if not exists ops.dbt_results (unique_id text primary key,
            resource_type text not null, name text not null, relation text, tested_node text,
            status text not null, failures bigint, message text,
            completed_at timestamptz not null, succeeded_at timestamptz);
        grant select on ops.dbt_results to {analyst};
        -- tests of other files (test_guards.py) leave failing results in this worker's
        -- warehouse; /health here must start from none
        delete from ops.dbt_results where resource_type = 'test';
    """)
    with roles.connect("admin") as pg, pg.cursor() as cur:
        cur.executemany(f"insert into marts.{TABLE} values (%s, %s, %s, %s, %s)", ROWS)
    model = ReportModel(name=TABLE, unique_id=f"model.pulse.{TABLE}", schema="marts",
                        table=TABLE, description="Crimes per area and day (grain: area, day).",
                        column_descriptions={"crime_count": "crimes reported"})
    config = ServeConfig(analyst=roles.connection("analyst"), monitor=warehouse_db,
                         manifest={"sources": SOURCE, "nodes": {}}, models=(model,),
                         portal_dir=tmp_path_factory.mktemp("portal"),
                         keys={KEY: "tester", OTHER_KEY: "other"}, rate_per_minute=1000,
                         health_seconds=0)
    server = Server(config)
    yield server
    server.stop()


def rows_of(server, params: str) -> list[dict]:
    status, body = server.json(f"/api/v1/reports/{TABLE}?{params}")
    assert status == 200, body
    return body["rows"]


def test_filters_ranges_order_and_paging(served):
    assert [r["crime_date"] for r in rows_of(served, "community_area_number=25")] == [
        "2026-03-01", "2026-03-02"]
    assert {r["community_area_number"] for r in rows_of(
        served, "community_area_number=25&community_area_number=8")} == {25, 8}
    march = rows_of(served, "crime_date__gte=2026-03-01&crime_date__lt=2026-03-04&order=-crime_count")
    assert [r["crime_count"] for r in march] == [40, 35, 9]
    assert rows_of(served, "arrest_rate__gt=0.3&order=arrest_rate")[0]["arrest_rate"] == 0.5
    status, first = served.json(f"/api/v1/reports/{TABLE}?order=crime_date&limit=2")
    assert first["total"] == 5 and first["next"].endswith("limit=2&offset=2")
    _, second = served.json(first["next"])
    _, third = served.json(second["next"])
    days = [r["crime_date"] for page in (first, second, third) for r in page["rows"]]
    assert days == sorted(r[1].isoformat() for r in ROWS) and third["next"] is None


def test_csv_is_the_report_files_csv(served):
    status, headers, body = served.get(f"/api/v1/reports/{TABLE}?format=csv&order=crime_date")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(body.decode())))
    assert table[0] == ["community_area_number", "crime_date", "crime_count", "arrest_rate",
                        "area_name"]
    assert table[1] == ["8", "2026-02-27", "12", "0.125", "Near North Side"]
    assert ["8", "2026-03-03", "9", "", "'=HYPERLINK(\"x\")"] in table  # NULL; formula as text
    assert headers["x-total-count"] == "5"


def test_a_value_meant_as_sql_is_a_value(served, warehouse_db):
    assert rows_of(served, "area_name=Austin'%20or%20'1'='1") == []
    status, body = served.json(f"/api/v1/reports/{TABLE}?order=crime_date;drop%20table%20x")
    assert status == 400 and "no column" in body["error"]
    assert query(warehouse_db, f"select count(*) from marts.{TABLE}") == [(5,)]


@pytest.mark.parametrize("params, says", [
    ("crime_date=yesterday", "crime_date='yesterday' is not a date (YYYY-MM-DD)"),
    ("crime_count=many", "crime_count='many' is not a whole number"),
    ("nosuch=1", "has no column 'nosuch'"),
    ("area_name__gte=A", "'gte' is not a filter on area_name (text)"),
    ("limit=100000", "limit=100000 is out of range: 1 to 10,000"),
    ("offset=-1", "offset=-1 is out of range"),
    ("format=xml", "format='xml': use one of json, csv"),
    ("order=-nosuch", "has no column 'nosuch'"),
])
def test_a_bad_request_says_why(served, params, says):
    status, body = served.json(f"/api/v1/reports/{TABLE}?{params}")
    assert status == 400 and says in body["error"], body


def test_keys_and_unknown_reports(served):
    assert served.json("/api/v1/reports", key=None)[0] == 401
    assert served.json("/api/v1/reports", key="x" * 20)[0] == 401
    status, headers, _ = served.get(f"/api/v1/reports/{TABLE}", key=None)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, body = served.json("/api/v1/reports/rpt_nosuch")
    assert status == 403 and "no report 'rpt_nosuch'" in body["error"]
    assert served.json("/api/v1/reports/pg_authid")[0] == 403  # only report marts
    status, body = served.json("/api/v1/reports", key=OTHER_KEY)
    assert status == 200
    [listed] = body["reports"]
    assert listed["name"] == TABLE and listed["row_count"] == 5
    assert listed["title"] == "Crimes per area and day"
    assert {c["name"]: c["type"] for c in listed["columns"]}["arrest_rate"] == "numeric(6,3)"


def test_etag_and_last_modified_follow_dbts_last_build(served, warehouse_db):
    query(warehouse_db, f"""
        insert into ops.dbt_results values ('model.pulse.{TABLE}', 'model', '{TABLE}',
            'marts.{TABLE}', null, 'success', null, '', now(), '2026-12-01 06:00+00')
        on conflict (unique_id) do update set succeeded_at = excluded.succeeded_at
    """)
    path = f"/api/v1/reports/{TABLE}?community_area_number=25"
    status, headers, _ = served.get(path)
    assert status == 200 and headers["last-modified"] == "Tue, 01 Dec 2026 06:00:00 GMT"
    assert served.get(path, headers={"If-None-Match": headers["etag"]})[0] == 304
    assert served.get(path, headers={"If-Modified-Since": headers["last-modified"]})[0] == 304
    assert served.get(f"{path}&limit=1", headers={"If-None-Match": headers["etag"]})[0] == 200
    query(warehouse_db, "update ops.dbt_results set succeeded_at = '2026-12-02 06:00+00'")
    assert served.get(path, headers={"If-None-Match": headers["etag"]})[0] == 200


def test_each_key_has_its_own_rate_limit(warehouse_db, served):
    from pulse.serve.app import RateLimit

    limit = RateLimit(per_minute=3)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") > 0 and limit.take("b") == 0.0


def test_over_the_rate_limit_is_429_with_retry_after(warehouse_db, tmp_path):
    config = ServeConfig(analyst=roles.connection("analyst"), monitor=warehouse_db,
                         manifest={"sources": {}, "nodes": {}}, models=(), portal_dir=tmp_path,
                         keys={KEY: "tester"}, rate_per_minute=2)
    server = Server(config)
    try:
        statuses = [server.get("/api/v1/reports")[0] for _ in range(3)]
        status, headers, body = server.get("/api/v1/reports")
    finally:
        server.stop()
    assert statuses == [200, 200, 429]
    assert status == 429 and int(headers["retry-after"]) >= 1 and b"2 requests a minute" in body


def test_openapi_lists_each_report_and_its_filters(served):
    status, document = served.json("/api/v1/openapi.json", key=None)
    assert status == 200 and document["openapi"].startswith("3.1")
    operation = document["paths"][f"/api/v1/reports/{TABLE}"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"community_area_number", "crime_date__gte", "order", "limit", "format"} <= names
    assert "area_name__gte" not in names


def test_health_turns_unhealthy_on_a_stale_source_and_a_failing_test(served, warehouse_db):
    status, body = served.json("/health", key=None)
    assert status == 200 and body["status"] == "ok", body
    [source] = body["sources"]
    assert source["source"] == "raw_test.loads" and source["status"] == "fresh"

    query(warehouse_db, "update raw_test.loads set _dlt_load_id = "
                        "extract(epoch from now() - interval '3 hours')::text")
    status, body = served.json("/health", key=None)
    assert status == 503 and body["sources"][0]["status"] == "stale"

    query(warehouse_db, "update raw_test.loads set _dlt_load_id = extract(epoch from now())::text")
    query(warehouse_db, """
        insert into ops.dbt_results values ('test.pulse.not_null_x', 'test', 'not_null_x', null,
            'model.pulse.x', 'fail', 3, 'Got 3 results, configured to fail if != 0', now(), null)
    """)
    status, body = served.json("/health", key=None)
    assert status == 503 and [t["name"] for t in body["failing_tests"]] == ["not_null_x"]
    query(warehouse_db, "delete from ops.dbt_results where unique_id = 'test.pulse.not_null_x'")
    assert served.json("/health", key=None)[0] == 200


def test_metrics_parse_as_prometheus_text(served):
    from prometheus_client.parser import text_string_to_metric_families

    served.get(f"/api/v1/reports/{TABLE}?nosuch=1")
    status, headers, body = served.get("/metrics", key=None)
    assert status == 200 and headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {"pulse_warehouse_up", "pulse_raw_rows", "pulse_last_load_age_seconds",
            "pulse_rejected_rows", "pulse_report_refresh_age_seconds",
            "pulse_api_requests"} <= set(families)
    requests = {(s.labels["path"], s.labels["status"]): s.value
                for s in families["pulse_api_requests"].samples if s.name.endswith("_total")}
    assert requests[("/api/v1/reports/{report}", "400")] >= 1
    assert [s.labels["source"] for s in families["pulse_last_load_age_seconds"].samples] == [
        "raw_test.loads"]


def test_api_keys_are_checked_without_showing_them():
    assert api_keys("abcdefghijklmnopqrst=web, 0123456789abcdef=ops") == {
        "abcdefghijklmnopqrst": "web", "0123456789abcdef": "ops"}
    with pytest.raises(ValueError, match="entry 2 is not key=name") as bad:
        api_keys("abcdefghijklmnopqrst=web,secretwithoutname")
    assert "secretwithoutname" not in str(bad.value)
    with pytest.raises(ValueError, match="shorter than 16"):
        api_keys("short=web")


def test_pulse_serve_serves_the_api_health_and_metrics(warehouse_db, tmp_path):
    """The command itself, as a user starts it: keys from the environment, the portal's
    folder, the real manifest."""
    (tmp_path / "index.html").write_text("<!doctype html><title>Pulse reports</title>")
    port = free_port()
    env = {**os.environ, "PULSE_API_KEYS": f"{KEY}=tester"}
    process = subprocess.Popen([str(Path(sys.executable).with_name("pulse")), "serve", "--port",
                                str(port), "--reports", str(tmp_path)], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/index.html", timeout=5) as answer:
                    assert b"Pulse reports" in answer.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "pulse serve did not start"
                time.sleep(0.5)
        request = urllib.request.Request(f"{base}/api/v1/reports",
                                         headers={"Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert "reports" in json.loads(answer.read())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/v1/reports", timeout=30)
        assert refused.value.code == 401
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=60) as answer:
                health = json.loads(answer.read())
        except urllib.error.HTTPError as err:  # 503: the test warehouse has loaded nothing
            health = json.loads(err.read())
        assert health["warehouse"]["reachable"] is True and health["sources"]
        with urllib.request.urlopen(f"{base}/metrics", timeout=60) as answer:
            assert b"pulse_warehouse_up 1.0" in answer.read()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert f"report API {base}/api/v1/reports (1 API key(s))" in output
    assert KEY not in output


def test_dbt_records_its_results_for_the_analyst(warehouse_db):
    """The on-run-end hook, through `pulse build`: the model built, its tests passed, and
    the analyst (who reads them on /health and as refreshed-at) may read the record."""
    run = subprocess.run([str(Path(sys.executable).with_name("pulse")), "build", "--select",
                          "chicago_community_areas", "--indirect-selection", "cautious"],
                         cwd=PROJECT_ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    analyst = roles.connection("analyst")
    recorded = dict(query(analyst, "select name, status from ops.dbt_results "
                                   "where name like '%chicago_community_areas%'"))
    assert recorded["chicago_community_areas"] == "success"
    assert recorded["not_null_chicago_community_areas_community_area_id"] == "pass"
    assert query(analyst, "select succeeded_at is not null from ops.dbt_results "
                          "where unique_id = 'seed.pulse.chicago_community_areas'") == [(True,)]
