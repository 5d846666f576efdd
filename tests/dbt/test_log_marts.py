"""The crawl marts (dbt_project/models/marts/logs) equal an independent pandas computation
from the generator's truth (sample_api/weblogs.py: which crawler each request claims and
whether its address is really that crawler's).

The real chain: generated lines in the local Loki -> the `loki` dlt source over HTTP ->
raw_logs -> `dbt build` as the transformer; the sitemap through the `sitemaps` source.
Then a second day of traffic, a refresh and an incremental build, compared again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipelines.loki import load_loki
from pipelines.sitemaps import load_sitemaps
from sample_api.loki import Entry, LocalLoki, LogStore
from sample_api.weblogs import WebTraffic
from tests.conftest import query, run_dbt

SELECT = "+path:dbt_project/models/marts/logs"
LABELS = (("job", "nginx"),)
DAY = timedelta(days=1)
VERIFIABLE = {"googlebot", "bingbot"}  # the families the seed has published ranges of
ENGINES = {"www.google.com": "Google", "www.bing.com": "Bing", "duckduckgo.com": "DuckDuckGo"}


def entries(visits) -> list[Entry]:
    return [Entry(int(v.requested_at.timestamp()) * 10**9 + i, v.line("combined_xff_rt"), LABELS)
            for i, v in enumerate(visits)]


@pytest.fixture(scope="module")
def traffic():
    return WebTraffic(seed=11, pages=200, spoof_rate=0.1)


@pytest.fixture(scope="module")
def built(warehouse_db, dbt_manifest, traffic, tmp_path_factory):
    """Two days of traffic loaded and built; yields (visits, load_more)."""
    for schema in ("raw_logs", "raw_logs_staging"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    folder = tmp_path_factory.mktemp("logs")
    (folder / "sitemap.xml").write_text(traffic.sitemap_xml())
    start = datetime.fromtimestamp(time.time() // 86400 * 86400, UTC) - 3 * DAY
    visits = traffic.generate(4000, start=start, seconds=2 * 86400)
    loki = LocalLoki(store=LogStore(entries(visits))).start()
    args = {"base_url": loki.url, "query": '{job="nginx"}', "log_format": "combined_xff_rt",
            "backfill_hours": 24 * 5, "limit": 1000}

    def load_and_build(full_refresh: bool = False):
        load_loki(folder / "dlt", **args)
        build = run_dbt("build", "--select", SELECT, *(["--full-refresh"] if full_refresh else []))
        assert build.returncode == 0, build.stdout[-4000:]

    load_sitemaps(folder / "dlt", locations=[str(folder / "sitemap.xml")])
    load_and_build(full_refresh=True)

    def load_more() -> list:
        more = traffic.generate(1500, start=start + 2 * DAY, seconds=20 * 3600)
        loki.store.push(entries(more)[:], "fake")
        visits.extend(more)
        load_and_build()
        return visits

    yield visits, load_more
    loki.stop()


def truth(visits, traffic) -> pd.DataFrame:
    """One row per request, from what the generator knows (not from the log lines)."""
    df = pd.DataFrame([{
        "day": v.requested_at.date(), "when": v.requested_at, "crawler": v.crawler,
        "verification": None if v.crawler is None else
        ("unverifiable" if v.crawler not in VERIFIABLE else
         "verified" if v.verified else "spoofed"),
        "path": v.target.split("?")[0], "has_query": "?" in v.target,
        "static": v.target in traffic.statics, "status": v.status,
        "seconds": v.request_time_s, "ip": v.client_ip,
        "engine": ENGINES.get((v.referrer or "").split("/")[2] if v.referrer else "", None),
    } for v in visits])
    return df


def rows(conn, sql: str) -> set[tuple]:
    return set(query(conn, sql))


def assert_marts_equal_truth(conn, visits, traffic):
    df = truth(visits, traffic)
    bots = df[df.crawler.notna()]
    verified = bots[bots.verification == "verified"]
    sitemap = set(traffic.sitemap)

    crawls = bots.groupby(["day", "crawler", "path"]).agg(
        hits=("ip", "size"), verified=("verification", lambda s: (s == "verified").sum()),
        spoofed=("verification", lambda s: (s == "spoofed").sum()))
    assert rows(conn, "select crawl_date, crawler, url_path, hits, verified_hits, spoofed_hits "
                      "from marts.rpt_logs__crawls_daily") == \
        {(*k, int(r.hits), int(r.verified), int(r.spoofed)) for k, r in crawls.iterrows()}

    status = bots.groupby(["day", "crawler", "verification", "status"]).size()
    assert rows(conn, "select crawl_date, crawler, verification, status_code, hits "
                      "from marts.rpt_logs__bot_status_daily") == \
        {(*k, int(n)) for k, n in status.items()}

    budget = set()
    for (day, crawler), g in verified.groupby(["day", "crawler"]):
        n = len(g)
        kinds = [(g.status // 100 == 3), (g.status // 100 == 4), (g.status // 100 == 5),
                 g.has_query, g.static]
        wasted = kinds[0] | kinds[1] | kinds[2] | kinds[3] | kinds[4]
        counts = [int(k.sum()) for k in [*kinds, wasted]]
        budget.add((day, crawler, n, *counts, *(round(c / n, 4) for c in counts)))
    assert {(*r[:8], *(float(x) for x in r[8:])) for r in query(
        conn, "select crawl_date, crawler, verified_hits, redirect_hits, client_error_hits, "
              "server_error_hits, parameterised_hits, static_hits, wasted_hits, redirect_share, "
              "client_error_share, server_error_share, parameterised_share, static_share, "
              "wasted_share from marts.rpt_logs__crawl_budget_daily")} == budget

    pages = verified[(verified.status == 200) & ~verified.static]
    orphans = pages[~pages.path.isin(sitemap)].groupby("path").size()
    assert rows(conn, "select url_path, verified_bot_hits from marts.rpt_logs__orphan_urls") == \
        {(p, int(n)) for p, n in orphans.items()}
    assert len(orphans) > 0

    crawled = set(verified.path)
    humans = df[df.crawler.isna()]
    uncrawled = {(p, int((humans.path == p).sum())) for p in sitemap - crawled}
    assert rows(conn, "select url_path, human_hits from marts.rpt_logs__uncrawled_sitemap_urls") \
        == uncrawled
    assert {p for p, _ in uncrawled} >= set(traffic.unvisited)

    as_of = df["when"].max()
    google = verified[verified.crawler == "googlebot"].groupby("path")["when"].max()
    recency = {(p, p in sitemap, (as_of.date() - google[p].date()).days if p in google else None)
               for p in sitemap | set(google.index)}
    assert rows(conn, "select url_path, in_sitemap, days_since_googlebot "
                      "from marts.rpt_logs__googlebot_recency") == recency

    df["group"] = df.crawler.isna().map({True: "human", False: "bot"})
    got = {(p, g): (n, float(mean), float(med), float(p95)) for p, g, n, mean, med, p95 in query(
        conn, "select url_path, visitor_group, requests, mean_response_time_s, "
              "median_response_time_s, p95_response_time_s from marts.rpt_logs__response_times")}
    expected = df.groupby(["path", "group"]).seconds.agg(
        ["size", "mean", "median", lambda s: s.quantile(0.95)])
    assert set(got) == set(expected.index)
    for key, (n, mean, med, p95) in expected.iterrows():
        assert got[key][0] == n
        for mine, theirs in zip(got[key][1:], (mean, med, p95), strict=True):
            assert abs(mine - theirs) <= 0.0006, (key, got[key], (mean, med, p95))

    referrals = humans[humans.engine.notna()].groupby(["day", "path", "engine"]).size()
    assert rows(conn, "select visit_date, landing_path, search_engine, visits "
                      "from marts.rpt_logs__search_referrals_daily") == \
        {(*k, int(n)) for k, n in referrals.items()}

    spoofed = bots[bots.verification == "spoofed"].groupby(["crawler", "ip"]).size()
    assert rows(conn, "select crawler, visitor_address, hits from marts.rpt_logs__spoofed_crawlers") \
        == {(*k, int(n)) for k, n in spoofed.items()}
    assert len(spoofed) > 0


def test_crawl_marts_equal_the_generators_truth(built, warehouse_db, traffic):
    visits, _ = built
    assert_marts_equal_truth(warehouse_db, visits, traffic)


def test_after_a_refresh_the_incremental_build_still_equals_the_truth(built, warehouse_db, traffic):
    _, load_more = built
    visits = load_more()
    assert query(warehouse_db, "select count(*) from enriched.int_logs__requests_classified") \
        == [(len(visits),)]
    assert_marts_equal_truth(warehouse_db, visits, traffic)
