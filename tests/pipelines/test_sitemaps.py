"""The sitemaps source: a sitemap index and its sitemaps (one gzipped), from a folder and
over HTTP, into raw_logs.sitemap_urls; what a sitemap may not make the loader read."""

from __future__ import annotations

import functools
import gzip
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.sitemaps import SitemapError, load_sitemaps
from tests.conftest import query

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(locs: list[str]) -> str:
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>2026-11-0{i % 9 + 1}</lastmod>"
                      f"<priority>0.{i % 10}</priority></url>" for i, loc in enumerate(locs))
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{entries}</urlset>'


@pytest.fixture
def site(tmp_path):
    """sitemap.xml (an index) -> pages.xml and posts.xml.gz, 30 URLs in all."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "pages.xml").write_text(urlset([f"https://shop.test/p/{i}" for i in range(20)]))
    (folder / "posts.xml.gz").write_bytes(
        gzip.compress(urlset([f"https://shop.test/blog/{i}" for i in range(10)]).encode()))
    (folder / "sitemap.xml").write_text(
        f'<?xml version="1.0"?><sitemapindex {NS}><sitemap><loc>https://shop.test/pages.xml</loc>'
        f'</sitemap><sitemap><loc>posts.xml.gz</loc></sitemap></sitemapindex>')
    return folder


@pytest.fixture
def fresh(warehouse_db):
    query(warehouse_db, "drop table if exists raw_logs.sitemap_urls")
    return warehouse_db


def served(folder):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_index_and_its_sitemaps_load_from_a_folder_and_over_http(fresh, site, tmp_path):
    load_sitemaps(tmp_path / "dlt", locations=[str(site / "sitemap.xml")])
    rows = query(fresh, "select loc, sitemap from raw_logs.sitemap_urls order by loc")
    assert len(rows) == 30 and rows[0][0] == "https://shop.test/blog/0"
    server = served(site)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/sitemap.xml"
        (site / "sitemap.xml").write_text(
            f'<?xml version="1.0"?><sitemapindex {NS}><sitemap><loc>/pages.xml</loc></sitemap>'
            f'<sitemap><loc>posts.xml.gz</loc></sitemap></sitemapindex>')
        load_sitemaps(tmp_path / "dlt", locations=[url])
    finally:
        server.shutdown()
    (count, lastmods, sitemaps), = query(
        fresh, "select count(*), count(lastmod), count(distinct sitemap) from raw_logs.sitemap_urls")
    assert (count, lastmods, sitemaps) == (30, 30, 2)  # replaced, not appended


@pytest.mark.parametrize("index, message", [
    ('<sitemap><loc>https://elsewhere.test/s.xml</loc></sitemap>', "on another host"),
    ('<sitemap><loc>../../etc/passwd</loc></sitemap>', "not well-formed|outside its folder|cannot read"),
])
def test_an_index_cannot_send_the_loader_elsewhere(fresh, site, tmp_path, index, message):
    server = served(site)
    try:
        (site / "sitemap.xml").write_text(f'<sitemapindex {NS}>{index}</sitemapindex>')
        url = f"http://127.0.0.1:{server.server_address[1]}/sitemap.xml"
        with pytest.raises(SitemapError, match=message):
            load_sitemaps(tmp_path / "dlt", locations=[url])
    finally:
        server.shutdown()
    (site / "sitemap.xml").write_text(f'<sitemapindex {NS}><sitemap><loc>/etc/passwd</loc>'
                                      '</sitemap></sitemapindex>')
    with pytest.raises(SitemapError, match="cannot read|not well-formed"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "sitemap.xml")])


def test_bad_xml_and_entities_are_refused_with_the_location(fresh, site, tmp_path):
    (site / "bad.xml").write_text("<urlset><url><loc>x</url>")
    with pytest.raises(SitemapError, match="bad.xml is not well-formed XML"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "bad.xml")])
    (site / "bomb.xml").write_text('<!DOCTYPE u [<!ENTITY a "aaaa">]><urlset>&a;</urlset>')
    with pytest.raises(SitemapError, match="declares a DTD"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "bomb.xml")])
