"""The generated web traffic (sample_api/weblogs.py): every line it renders parses back to
its truth in each format, crawlers claim their families from their published ranges or
from spoofed networks, and its sitemap leaves orphans and uncrawled pages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipelines.loki.access_log import parser
from pipelines.sitemaps import read_sitemap
from sample_api.weblogs import WebTraffic

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "access_logs"


@pytest.mark.parametrize("log_format", ["common", "combined", "combined_xff", "combined_rt",
                                        "combined_xff_rt"])
def test_every_line_parses_back_to_its_truth(log_format):
    visits = WebTraffic(seed=3).generate(2_000)
    parse = parser(log_format).parse
    for visit in visits:
        fields, reason = parse(visit.line(log_format))
        assert reason is None, (reason, visit.line(log_format))
        assert (fields["client_ip"], fields["requested_at"], fields["target"], fields["status"],
                fields["bytes"]) == (visit.client_ip, visit.requested_at, visit.target,
                                     visit.status, visit.bytes)
        if log_format != "common":
            assert fields["user_agent"] == visit.user_agent
        if log_format.endswith("_rt"):
            assert fields["request_time_s"] == visit.request_time_s


def test_crawlers_spoofs_and_the_sitemap(tmp_path):
    traffic = WebTraffic(seed=4, spoof_rate=0.1)
    visits = traffic.generate(20_000)
    claims = Counter((v.crawler, v.verified) for v in visits if v.crawler)
    assert claims[("googlebot", True)] > 1_000 and claims[("googlebot", False)] > 50
    assert claims[("bingbot", False)] > 10 and claims[("ahrefsbot", False)] > 100
    assert {v.status for v in visits if v.crawler} >= {200, 301, 404, 503}
    crawled = {v.target for v in visits if v.crawler == "googlebot" and v.verified}
    (tmp_path / "sitemap.xml").write_text(traffic.sitemap_xml())
    listed = {row["loc"].removeprefix("https://shop.example")
              for row in read_sitemap(str(tmp_path / "sitemap.xml"), http=None)}
    assert listed == set(traffic.sitemap)
    assert crawled & set(traffic.pages) - listed  # orphans: crawled, not in the sitemap
    assert set(traffic.unvisited) <= listed - crawled  # in the sitemap, never crawled


@pytest.mark.parametrize("log_format", ["combined_xff_rt", "auto"])
def test_the_arrow_parser_agrees_with_the_line_parser(log_format):
    """parse_page (Arrow, what loads run) and Parser.parse (per line) give the same rows,
    the recorded logs and some broken lines included."""
    import pyarrow as pa

    from pipelines.loki.access_log import parse_page

    lines = [v.line("combined_xff_rt") for v in WebTraffic(seed=5).generate(3_000)]
    lines += ['1.2.3.4 - - [99/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" "-" 0.1',
              '1.2.3.4 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 999 1 "-" "-" "-" 0.1',
              'garbage', '']
    ok = '1.2.3.4 - - [{time}] "GET {target} HTTP/1.1" {status} {size} "-" "-" "{xff}" {times}'
    fine = {"time": "04/Dec/2026:10:00:00 +0000", "target": "/", "status": "200", "size": "1",
            "xff": "-", "times": "0.1"}
    edges = [{"time": "31/Feb/2026:10:00:00 +0000"}, {"time": "04/Dec/2026:10:00:60 +0000"},
             {"time": "04/Dec/2026:10:00:00 +2400"}, {"time": "04/Dec/226:10:00:00 +0000"},
             {"time": "04/dec/2026:10:00:00 +0000"}, {"time": " 04/Dec/2026:10:00:00 +0000"},
             {"time": "29/Feb/2024:23:59:59 -1159"}, {"time": "29/Feb/2025:00:00:00 +0000"},
             {"size": "9" * 19}, {"size": "9" * 18}, {"target": "-"}, {"target": "/a?"},
             {"target": "?x=1"}, {"target": "/-?-"}, {"xff": "203.0.113.9 10.0.0.1"},
             {"xff": ", 10.0.0.1"}, {"xff": "203.0.113.9,10.0.0.1"}, {"times": "0.1 0.2, -"},
             {"times": "0.1 1..2"}, {"times": "0.1 0.2 : 0.3"}, {"times": "- -"},
             {"status": "\u0662\u0660\u0660"}, {"times": "0.1\n"}, {"times": "0.1\v"},
             {"times": "0.1 \u0660.5"}]
    lines += [ok.format(**{**fine, **edge}) for edge in edges]
    if log_format == "auto":
        lines += (REALDATA / "apache_fakegooglebot_fail2ban_testfixture__fail2ban.log").read_text(
            ).splitlines()
        lines += (REALDATA / "nginx_combined_xff_zanbil_2019-01-22_1000__tstack-lnav.log").read_text(
            ).splitlines()[:300]
    page = pa.table({"line_id": [str(i) for i in range(len(lines))],
                     "ts_ns": list(range(len(lines))), "line": lines})
    requests, rejects = parse_page(page, parser(log_format))
    by_line = {r["line_id"]: r for r in requests.to_pylist()}
    reasons = dict(zip(rejects["line_id"].to_pylist(), rejects["reason"].to_pylist(), strict=True))
    for i, line in enumerate(lines):
        fields, reason = parser(log_format).parse(line)
        if fields is None:
            assert reasons[str(i)] == reason, line
        else:
            row = by_line[str(i)]
            assert {k: row[k] for k in fields} == fields, line
    assert len(by_line) + len(reasons) == len(lines)
