"""The sitemaps source: a sitemap index and its sitemaps (one gzipped), from a folder and
over HTTP, into raw_logs.sitemap_urls; what a sitemap may not make the loader read."""

from __future__ import annotations

import functools
import gzip
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.sitemaps import SitemapError, load_sitemaps, sitemap_urls
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
    # the table and dlt's record of it: dlt creates only tables its stored schema lacks
    query(warehouse_db, "drop table if exists raw_logs.sitemap_urls")
    query(warehouse_db, "do $$ begin if to_regclass('raw_logs._dlt_version') is not null then "
                        "delete from raw_logs._dlt_version where schema_name = 'sitemaps'; "
                        "end if; end $$")
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
    ('<sitemap><loc>../../etc/passwd</loc></sitemap>', "etc/passwd answered 404 .*: check the location"),
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


class Site(SimpleHTTPRequestHandler):
    """The folder behind basic auth (user:s3cret), with redirects and a cut-off answer."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != "Basic dXNlcjpzM2NyZXQ=":
            self.send_error(401)
        elif self.path == "/moved.xml":
            self.send_response(301)
            self.send_header("Location", "/sitemap.xml")
            self.end_headers()
        elif self.path == "/away.xml":
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.test/sitemap.xml")
            self.end_headers()
        elif self.path == "/cut.xml":
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"<urlset>")
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def guarded(site):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Site, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_credentials_in_a_location_are_basic_auth_for_its_host_only(fresh, site, tmp_path, guarded):
    (site / "sitemap.xml").write_text(  # each child listed twice, and the index itself
        f'<sitemapindex {NS}>' + "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in
                                         ["pages.xml", "/pages.xml", "posts.xml.gz",
                                          "sitemap.xml"] * 2) + "</sitemapindex>")
    load_sitemaps(tmp_path / "dlt", locations=[f"http://user:s3cret@{guarded}/moved.xml"])
    (rows, sitemaps, secret), = query(
        fresh, "select count(*), count(distinct sitemap), "
               "count(*) filter (where sitemap like '%s3cret%') from raw_logs.sitemap_urls")
    assert (rows, sitemaps, secret) == (30, 2, 0)  # each sitemap read once
    for location, message in [
        (f"http://user:wrong@{guarded}/sitemap.xml", "sitemap.xml answered 401"),
        (f"http://user:s3cret@{guarded}/away.xml", "redirects to http://elsewhere.test/"),
        (f"http://user:s3cret@{guarded}/cut.xml", "cannot read the sitemap .*cut.xml: "
                                                  "ProtocolError after every retry"),
        ("http://user:s3cret@127.0.0.1:9/sitemap.xml", "cannot read the sitemap"),
    ]:
        with pytest.raises(SitemapError, match=message) as raised:
            load_sitemaps(tmp_path / "dlt", locations=[location], max_attempts=1)
        assert "s3cret" not in str(raised.value) and "wrong" not in str(raised.value)


@pytest.mark.parametrize("index, message", [
    ("<sitemap><loc>ftp://{host}/pages.xml</loc></sitemap>", "only http\\(s\\) URLs"),
    ("<sitemap><loc>http://other:pw@{host}/pages.xml</loc></sitemap>", "without credentials"),
    ("<sitemap><loc>http://127.0.0.1.evil.test:{port}/pages.xml</loc></sitemap>", "on another host"),
    ("<sitemap><loc>http://{host}.evil.test/pages.xml</loc></sitemap>", "which is not a URL"),
])
def test_an_index_may_list_only_http_on_its_own_host(fresh, site, tmp_path, guarded, index, message):
    child = index.format(host=guarded, port=guarded.split(":")[1])
    (site / "sitemap.xml").write_text(f"<sitemapindex {NS}>{child}</sitemapindex>")
    with pytest.raises(SitemapError, match=message) as raised:
        load_sitemaps(tmp_path / "dlt", locations=[f"http://user:s3cret@{guarded}/sitemap.xml"])
    assert "pw@" not in str(raised.value)


def test_dtds_in_any_encoding_and_broken_gzip_are_refused(fresh, site, tmp_path):
    bomb = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE u [<!ENTITY a "aaaa">]><urlset>&a;</urlset>'
    (site / "bomb16.xml").write_bytes(bomb.encode("utf-16"))
    with pytest.raises(SitemapError, match="bomb16.xml declares a DTD"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "bomb16.xml")])
    (site / "broken.xml.gz").write_bytes(gzip.compress(urlset(["https://shop.test/"]).encode())[:40])
    with pytest.raises(SitemapError, match="broken.xml.gz: EOFError"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "broken.xml.gz")])
    (site / "garbage.xml.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(SitemapError, match="garbage.xml.gz: BadGzipFile"):
        load_sitemaps(tmp_path / "dlt", locations=[str(site / "garbage.xml.gz")])


def test_an_index_streams_one_table_per_sitemap(site):
    tables = list(sitemap_urls([str(site / "sitemap.xml")], http=None))
    assert [t.num_rows for t in tables] == [20, 10]
