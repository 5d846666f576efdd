"""The search engines' published crawler IP ranges, kept as the dbt seed
`dbt_project/seeds/crawler_ip_ranges.csv`, so that a request claiming to be Googlebot
or bingbot is verified offline: its address is in the engine's ranges, or it is spoofed.

Google and Bing publish their crawlers' ranges as JSON of one shape
(`{"creationTime": ..., "prefixes": [{"ipv4Prefix": ...}, {"ipv6Prefix": ...}]}`).
`pulse crawler-ranges` downloads them and rewrites the seed, each row with the list's
own creation date (`published_on`), so a stale seed shows its age; then `pulse build
--select crawler_ip_ranges+` reloads it. The seed in the repository came from these
lists; docs/logs.md says when.
"""

from __future__ import annotations

import csv
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from urllib.request import urlopen

from pulse.warehouse import PROJECT_ROOT

SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "crawler_ip_ranges.csv"
SOURCES = {
    "googlebot": "https://developers.google.com/static/search/apis/ipranges/googlebot.json",
    "bingbot": "https://www.bing.com/toolbox/bingbot.json",
}
COLUMNS = ("crawler", "ip_range", "published_on", "source_url")
# A published crawler range is a few dozen to a few thousand addresses; anything as wide
# as this would verify half an ISP, so a list holding one is refused, not trusted.
WIDEST_PREFIX = {4: 16, 6: 32}


class CrawlerRangesError(ValueError):
    pass


@dataclass(frozen=True)
class Ranges:
    crawler: str
    published_on: date
    networks: list[str]
    source_url: str


def parse(crawler: str, source_url: str, document: object) -> Ranges:
    """One engine's list, every prefix checked to be a public network of sane width."""
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise CrawlerRangesError(f"{source_url}: not a crawler range list (no 'prefixes')")
    try:
        created = datetime.fromisoformat(str(document["creationTime"])).date()
    except (KeyError, ValueError):
        raise CrawlerRangesError(f"{source_url}: no readable creationTime") from None
    networks = []
    for number, prefix in enumerate(document["prefixes"]):
        text = prefix.get("ipv4Prefix") or prefix.get("ipv6Prefix") \
            if isinstance(prefix, dict) else None
        try:
            network = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            raise CrawlerRangesError(f"{source_url}: prefix {number} ({text!r}) is not a "
                                     "network") from None
        if not network.is_global or network.prefixlen < WIDEST_PREFIX[network.version]:
            raise CrawlerRangesError(f"{source_url}: prefix {number} ({network}) is not a "
                                     "public crawler range: refused")
        networks.append(str(network))
    if not networks:
        raise CrawlerRangesError(f"{source_url}: an empty list: refused")
    return Ranges(crawler, created, sorted(set(networks)), source_url)


def download(url: str, timeout: float = 30.0) -> object:
    with urlopen(url, timeout=timeout) as response:  # noqa: S310 (https URLs of SOURCES)
        return json.loads(response.read(2_000_000))


def refresh(seed: Path = SEED, sources: dict[str, str] = SOURCES,
            fetch: Callable[[str], object] = download) -> list[Ranges]:
    """Every source downloaded and checked, then the seed rewritten at once: a failing
    source leaves the seed as it was."""
    lists = [parse(crawler, url, fetch(url)) for crawler, url in sources.items()]
    partial = seed.with_suffix(".csv.partial")
    with partial.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for ranges in lists:
            for network in ranges.networks:
                writer.writerow((ranges.crawler, network, ranges.published_on.isoformat(),
                                 ranges.source_url))
    partial.replace(seed)
    return lists
