"""A web shop's access logs, generated with their truth: the stand-in for the logs Loki
serves (sample_api/loki.py), for the crawl analytics of issue #16.

`WebTraffic(seed).generate(lines, start)` returns `Visit`s, each a request with what a
log line says (client IP, time, method, target, status, bytes, referrer, user agent,
response time) and what only the generator knows: the crawler family the user agent
claims, and whether the address is really that crawler's (`verified`) or a spoof. Lines
render in any of the parser's formats (`Visit.line(format)`), and `sitemap_xml()` is the
site's sitemap, which lists most pages but not all (orphans) and some that are never
crawled.

The verified crawler addresses come from ranges the search engines publish (a /27 of
Googlebot's 66.249.64.0/19 and bingbot's 157.55.39.0/24); spoofed ones from networks
that are not theirs. The pipeline's seed of published ranges must hold these.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SITE = "https://shop.example"
# (family, user agent, published range the real crawler uses)
CRAWLERS = [
    ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "66.249.66.0/27"),
    ("googlebot", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; "
                  "Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.68.0/27"),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     "157.55.39.0/24"),
    ("yandexbot", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", None),
    ("baiduspider", "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     None),
    ("applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, "
                 "like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; "
                 "+http://www.apple.com/go/applebot)", None),
    ("ahrefsbot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", None),
    ("semrushbot", "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", None),
]
SPOOF_NETWORKS = ("185.220.101.0/24", "45.155.205.0/24")  # not any search engine's
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
SEARCH_REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")


@dataclass(frozen=True)
class Visit:
    client_ip: str
    requested_at: datetime
    method: str
    target: str
    status: int
    bytes: int | None
    referrer: str | None
    user_agent: str
    request_time_s: float
    crawler: str | None  # the family the user agent claims, None for a browser
    verified: bool  # the address is in the claimed crawler's published range
    forwarded_for: str | None = None

    def line(self, log_format: str = "combined") -> str:
        stamp = self.requested_at.strftime("%d/%b/%Y:%H:%M:%S +0000")
        size = "-" if self.bytes is None else str(self.bytes)
        text = (f'{self.client_ip} - - [{stamp}] "{self.method} {self.target} HTTP/1.1" '
                f'{self.status} {size}')
        if log_format == "common":
            return text
        text += f' "{self.referrer or "-"}" "{self.user_agent}"'
        if log_format in ("combined_xff", "combined_xff_rt"):
            text += f' "{self.forwarded_for or "-"}"'
        if log_format in ("combined_rt", "combined_xff_rt"):
            text += f" {self.request_time_s:.3f}"
        return text


class WebTraffic:
    """A shop of `pages` product and blog pages, a few redirects and gone pages, static
    files and parameterised listings; visited by browsers and crawlers."""

    def __init__(self, seed: int = 0, pages: int = 400, spoof_rate: float = 0.05):
        self.rng = random.Random(seed)
        self.spoof_rate = spoof_rate
        self.pages = [f"/products/{i}" for i in range(pages * 3 // 4)] + \
                     [f"/blog/post-{i}" for i in range(pages // 4)]
        self.redirects = [f"/old/item-{i}" for i in range(pages // 20)]  # 301
        self.gone = [f"/products/discontinued-{i}" for i in range(pages // 20)]  # 404
        self.statics = [f"/static/app.{i:04x}.js" for i in range(5)] + \
                       [f"/images/p{i}.webp" for i in range(40)]
        # the sitemap lists 90% of the pages (the rest are orphans) and a few pages that
        # no visitor ever asks for (never crawled)
        listed = self.rng.sample(self.pages, k=len(self.pages) * 9 // 10)
        self.unvisited = [f"/products/new-{i}" for i in range(pages // 25)]
        self.sitemap = sorted(listed + self.unvisited)

    def generate(self, lines: int, start: datetime | None = None,
                 seconds: float = 86_400.0) -> list[Visit]:
        start = start or datetime(2026, 12, 1, tzinfo=UTC)
        stamps = sorted(self.rng.uniform(0, seconds) for _ in range(lines))
        return [self._visit(start + timedelta(seconds=int(s))) for s in stamps]

    def _visit(self, at: datetime) -> Visit:
        rng = self.rng
        if rng.random() < 0.45:
            family, agent, network = rng.choice(CRAWLERS)
            spoof = network is not None and rng.random() < self.spoof_rate
            if spoof or network is None:
                ip = self._address(rng.choice(SPOOF_NETWORKS)) if spoof else self._random_ip()
            else:
                ip = self._address(network)
            target, status = self._crawl_target()
            referrer = None
            verified = network is not None and not spoof
        else:
            family, agent, verified = None, rng.choice(BROWSERS), False
            ip = self._random_ip()
            target, status = self._browse_target()
            referrer = rng.choice(SEARCH_REFERRERS) if rng.random() < 0.3 else None
        size = None if status in (301, 304) else rng.randrange(200, 90_000)
        slow = rng.random() < 0.02
        return Visit(ip, at, "GET", target, status, size, referrer, agent,
                     round(rng.uniform(1.0, 4.0) if slow else rng.uniform(0.002, 0.4), 3),
                     family, verified,
                     forwarded_for=self._random_ip() if rng.random() < 0.05 else None)

    def _crawl_target(self) -> tuple[str, int]:
        roll = self.rng.random()
        if roll < 0.06:
            return self.rng.choice(self.redirects), 301
        if roll < 0.10:
            return self.rng.choice(self.gone), 404
        if roll < 0.12:
            return self.rng.choice(self.pages), 503
        if roll < 0.20:
            return f"/category/{self.rng.randrange(12)}?page={self.rng.randrange(1, 30)}", 200
        if roll < 0.28:
            return self.rng.choice(self.statics), 200
        return self.rng.choice(self.pages), 200

    def _browse_target(self) -> tuple[str, int]:
        roll = self.rng.random()
        if roll < 0.5:
            return self.rng.choice(self.statics), self.rng.choice((200, 200, 304))
        if roll < 0.55:
            return self.rng.choice(self.gone), 404
        return self.rng.choice(self.pages), 200

    def _address(self, network: str) -> str:
        net = ipaddress.ip_network(network)
        return str(net.network_address + self.rng.randrange(1, net.num_addresses - 1))

    def _random_ip(self) -> str:
        # documentation and private-use free: any public-looking address outside the ranges
        return f"{self.rng.randrange(11, 100)}.{self.rng.randrange(256)}." \
               f"{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def sitemap_xml(self) -> str:
        entries = "".join(f"<url><loc>{SITE}{path}</loc></url>" for path in self.sitemap)
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>')
