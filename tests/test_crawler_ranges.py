"""`pulse crawler-ranges`: the published crawler lists into the seed, each row with its
list's date; a bad list is refused and leaves the seed as it was. The seed in the
repository holds the ranges the generated traffic's real crawlers come from."""

from __future__ import annotations

import csv
import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pulse import crawler_ranges
from sample_api.weblogs import CRAWLERS, SPOOF_NETWORKS

GOOGLE = {"creationTime": "2026-11-30T14:46:20.000000",
          "prefixes": [{"ipv6Prefix": "2001:4860:4801:10::/64"}, {"ipv4Prefix": "66.249.66.0/27"},
                       {"ipv4Prefix": "66.249.66.0/27"}]}
BING = {"creationTime": "2024-01-03T10:00:00.121331",
        "prefixes": [{"ipv4Prefix": "157.55.39.0/24"}]}


@pytest.fixture
def publisher():
    documents = {"/googlebot.json": GOOGLE, "/bingbot.json": BING}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps(documents[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield documents, {"googlebot": f"{base}/googlebot.json", "bingbot": f"{base}/bingbot.json"}
    server.shutdown()


def test_the_published_lists_become_the_seed_with_their_dates(publisher, tmp_path):
    documents, sources = publisher
    seed = tmp_path / "crawler_ip_ranges.csv"
    crawler_ranges.refresh(seed, sources)
    rows = list(csv.DictReader(seed.open()))
    assert [(r["crawler"], r["ip_range"], r["published_on"]) for r in rows] == [
        ("googlebot", "2001:4860:4801:10::/64", "2026-11-30"),
        ("googlebot", "66.249.66.0/27", "2026-11-30"),  # once
        ("bingbot", "157.55.39.0/24", "2024-01-03"),
    ]
    before = seed.read_text()
    for bad, message in [({"prefixes": []}, "no readable creationTime"),
                         ({**GOOGLE, "prefixes": [{"ipv4Prefix": "8.0.0.0/8"}]}, "8.0.0.0/8"),
                         ({**GOOGLE, "prefixes": [{"ipv4Prefix": "10.1.2.0/24"}]}, "not a public"),
                         ({**GOOGLE, "prefixes": [{"ipv4Prefix": "junk"}]}, "not a network"),
                         ({**GOOGLE, "prefixes": []}, "an empty list")]:
        documents["/bingbot.json"] = bad
        with pytest.raises(crawler_ranges.CrawlerRangesError, match=message):
            crawler_ranges.refresh(seed, sources)
        assert seed.read_text() == before


def test_the_repositorys_seed_verifies_the_generators_crawlers_and_not_its_spoofers():
    rows = list(csv.DictReader(crawler_ranges.SEED.open()))
    assert {r["crawler"] for r in rows} == {"googlebot", "bingbot"}
    assert all(r["published_on"] for r in rows)
    networks = [ipaddress.ip_network(r["ip_range"]) for r in rows]
    for _, _, published in CRAWLERS:
        if published:
            assert any(ipaddress.ip_network(published).subnet_of(n) for n in networks
                       if n.version == 4), published
    for spoof in SPOOF_NETWORKS:
        assert not any(ipaddress.ip_network(spoof).overlaps(n) for n in networks if n.version == 4)
