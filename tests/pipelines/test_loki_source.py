"""The `loki` source against the local Loki (sample_api/loki.py) over real HTTP: lines that
share a timestamp across page boundaries are loaded once, a refresh reads only new lines
and merges its overlap, and Loki's errors end a run clearly with nothing moved."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from pipelines.loki import LokiError, load_loki, page_rows
from sample_api.loki import Entry, LocalLoki, LogStore
from tests.conftest import query

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "loki"
T0 = (time.time_ns() // 10**9 - 3 * 86400) * 10**9  # three days ago, whole seconds
QUERY = '{job="nginx"}'


def entries(count: int, start_ns: int, seed: int = 0, same_stamp: int = 7) -> list[Entry]:
    """`count` access-log lines in two nginx streams and one other job; runs of up to
    `same_stamp` lines share a nanosecond timestamp."""
    rng = random.Random(seed)
    out, ts = [], start_ns
    while len(out) < count:
        ts += rng.randrange(1, 5_000_000)
        for _ in range(rng.randrange(1, same_stamp + 1)):
            host = rng.choice(["web-1", "web-2"])
            out.append(Entry(ts, f'10.0.{rng.randrange(256)}.{rng.randrange(256)} - - '
                                 f'"GET /p/{rng.randrange(10**6)} HTTP/1.1" 200 {rng.randrange(9999)}',
                             (("host", host), ("job", "nginx"))))
    return out[:count]


@pytest.fixture
def raw_logs(warehouse_db):
    query(warehouse_db, "drop schema if exists raw_logs cascade")
    query(warehouse_db, "drop schema if exists raw_logs_staging cascade")
    return warehouse_db


def loaded(conn) -> set[tuple[int, str]]:
    return {(ts, line) for ts, line in query(conn, "select ts_ns, line from raw_logs.lines")}


def load(loki: LocalLoki, tmp_path: Path, **kwargs):
    args = {"base_url": loki.url, "query": QUERY, "limit": 100, "backfill_hours": 24 * 30,
            "overlap_seconds": 60, "max_attempts": 3, "backoff_factor": 0.01, **kwargs}
    return load_loki(tmp_path / "dlt", **args)


def test_lines_sharing_a_timestamp_across_pages_are_loaded_once(raw_logs, tmp_path):
    truth = entries(3_000, T0)
    other = [Entry(T0 + 10, "not nginx", (("job", "syslog"),))]
    with LocalLoki(LogStore(truth + other)) as loki:
        load(loki, tmp_path)
        pages = len(loki.faults.requests)
    assert loaded(raw_logs) == {(e.ts_ns, e.line) for e in truth}
    (rows, ids), = query(raw_logs, "select count(*), count(distinct line_id) from raw_logs.lines")
    assert rows == ids == 3_000
    assert pages >= 30  # a page of 100 at a time, each boundary inside a run of one timestamp
    labels = query(raw_logs, "select distinct labels from raw_logs.lines order by 1")
    assert [json.loads(label) for (label,) in labels] == [{"host": "web-1", "job": "nginx"},
                                                          {"host": "web-2", "job": "nginx"}]


def test_a_refresh_reads_only_new_lines_and_its_overlap_merges(raw_logs, tmp_path):
    first = entries(1_000, T0, seed=1)
    with LocalLoki(LogStore(first)) as loki:
        load(loki, tmp_path)
        newest = max(e.ts_ns for e in first)
        late = [Entry(newest - 10**9, "a line Loki took late, inside the overlap",
                      (("host", "web-1"), ("job", "nginx")))]
        later = entries(500, newest, seed=2)
        loki.store.push(late + later)
        loki.faults.requests.clear()
        load(loki, tmp_path)
        starts = [int(r["start"]) for r in loki.faults.requests]
    assert loaded(raw_logs) == {(e.ts_ns, e.line) for e in first + late + later}
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 1_501
    assert min(starts) == newest - 60 * 10**9  # the overlap, not the backfill window


@pytest.mark.parametrize("fault, message", [
    ({"query": "nginx"}, "fix the LogQL stream selector"),
    ({"limit": 200, "server_max": 150}, "max_entries_limit_per_query"),
    ({"server_error": 99}, "answered 500 after every retry"),
])
def test_a_loki_error_ends_the_run_clearly_and_moves_nothing(raw_logs, tmp_path, fault, message):
    truth = entries(400, T0, seed=3)
    with LocalLoki(LogStore(truth)) as loki:
        load(loki, tmp_path, limit=50)
        loki.store.push(entries(100, max(e.ts_ns for e in truth), seed=4))
        loki.max_entries_limit = fault.pop("server_max", 5000)
        loki.faults.server_error = fault.pop("server_error", 0)
        with pytest.raises(LokiError, match=message) as err:
            load(loki, tmp_path, **fault)
        assert loki.url in str(err.value)
        assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 400
        loki.faults.server_error = 0
        load(loki, tmp_path)  # the next good run loads what the failed one did not
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 500


def test_rate_limits_are_retried_and_credentials_never_appear_in_errors(raw_logs, tmp_path):
    truth = entries(300, T0, seed=5)
    with LocalLoki(LogStore(truth), auth="reader:s3cret", tenants=("team-a",)) as loki:
        loki.store.push(truth, tenant="team-a")
        with pytest.raises(LokiError, match="SOURCES__LOKI__PASSWORD") as err:  # kept out of dlt's trace
            load(loki, tmp_path, base_url=loki.url.replace("http://", "http://reader:s3cret@"))
        assert "s3cret" not in str(err.value)
        with pytest.raises(LokiError, match="credentials") as err:
            load(loki, tmp_path, username="reader", password="wrong", tenant_id="team-a")
        assert "wrong" not in str(err.value)
        loki.faults.rate_limit = 2
        load(loki, tmp_path, username="reader", password="s3cret", tenant_id="team-a")
    assert query(raw_logs, "select count(*) from raw_logs.lines")[0][0] == 300
    traces = list((tmp_path / "dlt").rglob("trace.pickle"))
    assert traces and not any(b"s3cret" in path.read_bytes() for path in traces)


def test_a_pause_longer_than_the_backfill_loses_nothing(raw_logs, tmp_path):
    """The next run starts from the last one, however long ago, not `backfill_hours` ago;
    and a range longer than Loki's max_query_length is read in windows."""
    first = entries(200, T0, seed=6)
    with LocalLoki(LogStore(first), max_query_length_ns=25 * 3600 * 10**9) as loki:
        load(loki, tmp_path, backfill_hours=3 * 24 + 1, window_hours=24)
        later = entries(200, T0 + 86400 * 10**9, seed=7)  # two days ago
        loki.store.push(later)
        load(loki, tmp_path, backfill_hours=1, window_hours=24)
        with pytest.raises(LokiError, match="lower SOURCES__LOKI__WINDOW_HOURS"):
            load(loki, tmp_path, window_hours=48)
    assert loaded(raw_logs) == {(e.ts_ns, e.line) for e in first + later}


def test_an_answer_dlt_does_not_retry_is_not_called_retried(raw_logs, tmp_path):
    with LocalLoki(LogStore(entries(10, T0))) as loki, \
            pytest.raises(LokiError, match=r"answered 404 \(.*\); check SOURCES__LOKI__BASE_URL"):
        load(loki, tmp_path, base_url=loki.url + "/wrong-prefix")


def test_more_lines_on_one_nanosecond_than_a_page_holds_stop_the_run(raw_logs, tmp_path):
    crowd = [Entry(T0 + 5, f"line {i}", (("job", "nginx"),)) for i in range(150)]
    with LocalLoki(LogStore(crowd)) as loki, pytest.raises(LokiError, match="Raise SOURCES__LOKI__LIMIT"):
        load(loki, tmp_path)


def test_recorded_loki_answers_read_as_rows():
    recorded = json.loads((REALDATA / "query_range_streams_otel-k8s-java-dice_2024-09-19__grafana-"
                                      "oats.json").read_text())
    rows = page_rows(recorded["data"]["result"])
    assert len(rows) == 24 and len({r[0] for r in rows}) == 24
    assert all(1_726_747_900 * 10**9 < ts < 1_726_748_000 * 10**9 for _, ts, _, _ in rows)
    empty = json.loads((REALDATA / "query_range_streams_empty-result-with-stats__cloudogu-k8s-"
                                   "support-archive-operator.json").read_text())
    assert page_rows(empty["data"]["result"]) == []


ACCESS_LOGS = REALDATA.parent / "access_logs"


def test_recorded_access_logs_are_parsed_or_kept_with_a_reason(raw_logs, tmp_path):
    """The three recorded logs (Apache combined, nginx with X-Forwarded-For, fail2ban's
    fake-Googlebot fixture) through the local Loki, parsed with `auto`."""
    pushed, ts = [], T0
    for path, job in ((ACCESS_LOGS / "apache_combined_semicomplete_2015-05_first8000of10000__"
                                     "elastic-examples.log", "apache"),
                      (ACCESS_LOGS / "nginx_combined_xff_zanbil_2019-01-22_1000__tstack-lnav.log",
                       "nginx"),
                      (ACCESS_LOGS / "apache_fakegooglebot_fail2ban_testfixture__fail2ban.log",
                       "fail2ban")):
        for line in path.read_text(encoding="utf-8").splitlines():
            ts += 1_000
            pushed.append(Entry(ts, line, (("job", job),)))
    with LocalLoki(LogStore(pushed)) as loki:
        load(loki, tmp_path, query='{job="apache"}', limit=5000,
             log_format="auto")
        for job in ("nginx", "fail2ban"):
            load(loki, tmp_path, query=f'{{job="{job}"}}', limit=5000, log_format="auto")
    (parsed,), = query(raw_logs, "select count(*) from raw_logs.requests")
    rejects = query(raw_logs, "select reason, line from raw_logs.request_rejects order by ts_ns")
    assert parsed == 8_000 + 1_000 + 1
    assert len(rejects) == 6  # fail2ban's 4 comment lines and its 2 Apache 2.2 lines
    assert all(reason.startswith("no_format_matched") for reason, _ in rejects)
    formats = dict(query(raw_logs, "select log_format, count(*) from raw_logs.requests group by 1"))
    assert formats == {"combined": 8_000, "combined_xff": 1_000, "vhost_combined": 1}
    spoof, = query(raw_logs, "select client_ip, host, status, user_agent, requested_at "
                             "from raw_logs.requests where host = 'www.sitename.com'")
    assert spoof[:3] == ("192.0.2.222", "www.sitename.com", 403) and "Googlebot" in spoof[3]
    assert spoof[4].isoformat() == "2024-08-18T20:08:39+00:00"  # +0100 read as UTC
    (xff,), = query(raw_logs, "select count(*) from raw_logs.requests where forwarded_for "
                              "= '103.28.132.65'")
    assert xff > 0


@pytest.mark.parametrize("log_format, line, expected", [
    ("common", '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326',
     {"remote_user": "frank", "path": "/a.gif", "query_string": "x=1", "bytes": 2326,
      "requested_at": "2000-10-10T20:55:36+00:00"}),
    ("combined_rt", '10.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "POST /api HTTP/2.0" 504 - "-" '
                    '"curl/8.0" 30.001 30.000', {"bytes": None, "request_time_s": 30.001,
                                                 "upstream_time_s": 30.0, "method": "POST"}),
    ("combined_xff_rt", '10.0.0.2 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" '
                        '"UA \\"quoted\\"" "203.0.113.9, 10.0.0.1" 0.004 0.001, 0.003',
     {"forwarded_for": "203.0.113.9", "user_agent": 'UA "quoted"', "upstream_time_s": 0.003}),
    (r'^(?P<client_ip>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d+)$',
     '10.1.1.1 [04/Dec/2026:10:00:00 +0000] "GET /x HTTP/1.1" 301', {"status": 301, "path": "/x"}),
])
def test_each_format_reads_its_fields(log_format, line, expected):
    from pipelines.loki.access_log import parser

    fields, reason = parser(log_format).parse(line)
    assert reason is None, reason
    got = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
    assert {k: got[k] for k in expected} == expected


def test_a_bad_format_or_a_bad_line_says_why(tmp_path):
    from pipelines.loki.access_log import parser

    with pytest.raises(LokiError, match="unknown log_format 'combinedd'"):
        load_loki(tmp_path, base_url="http://127.0.0.1:9", query=QUERY, log_format="combinedd")
    with pytest.raises(LokiError, match="neither a format name"):
        load_loki(tmp_path, base_url="http://127.0.0.1:9", query=QUERY,
                  log_format="(?P<time>(unclosed")
    with pytest.raises(LokiError, match="lacks the named group"):
        load_loki(tmp_path, base_url="http://127.0.0.1:9", query=QUERY, log_format=r"(?P<time>.*)")
    line = '1.2.3.4 - - [{}] "GET / HTTP/1.1" 200 {} "-" "-"'
    for stamp in ("99/Foo/2026:10:00:00 +0000", "31/Feb/2026:10:00:00 +0000",
                  "04/Dec/2026:10:00:60 +0000", "04/Dec/2026:10:00:00 +2400"):
        _, reason = parser("combined").parse(line.format(stamp, 1))
        assert reason == f"bad_time: '{stamp}' is not dd/Mon/yyyy:HH:MM:SS +hhmm"
    # a byte count past a bigint is a reject, not a load that fails on every run
    _, reason = parser("combined").parse(line.format("04/Dec/2026:10:00:00 +0000", "9" * 19))
    assert reason == f"bad_number: bytes '{'9' * 19}' has more than 18 digits"


def test_entries_with_structured_metadata_read_as_rows():
    """Loki 3 answers [ts, line, {metadata}] when asked to categorize labels."""
    rows = page_rows([{"stream": {"job": "nginx"},
                       "values": [["1796300000000000001", "a line", {"structuredMetadata": {"x": "1"}}],
                                  ["1796300000000000002", "another"]]}])
    assert [(ts, line) for _, ts, _, line in rows] == [(1796300000000000001, "a line"),
                                                       (1796300000000000002, "another")]
