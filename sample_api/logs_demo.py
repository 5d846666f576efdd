"""The demo's web logs: a local Loki holding a generated web shop's access logs and the
recorded ones of ../shared/realdata/access_logs (when it is there), and the shop's
sitemap as a file; the `loki` and `sitemaps` sources are pointed at them.

Each run adds traffic up to now: the load reads only what is past its cursor (less the
overlap). The recorded lines keep the Loki timestamps of the first run (kept in the demo's
state), so a later run finds them already loaded, as a real Loki would serve them.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pulse import roles
from pulse.warehouse import PROJECT_ROOT, data_dir

from .loki import Entry, LocalLoki, LogStore
from .weblogs import WebTraffic

RECORDED = PROJECT_ROOT.parent / "shared" / "realdata" / "access_logs"
LINES_PER_RUN = 20_000
HOURS = 48
SOURCE_LABELS = {  # a stream per recorded file, named for what it is
    "apache_combined": "elastic-examples apache",
    "nginx_combined_xff": "lnav nginx",
    "apache_fakegooglebot": "fail2ban fixture",
}


def _recorded_entries(first_run_ns: int) -> list[Entry]:
    entries = []
    for path in sorted(RECORDED.glob("*.log")):
        name = next((label for prefix, label in SOURCE_LABELS.items()
                     if path.name.startswith(prefix)), path.stem)
        labels = (("job", "nginx"), ("source", name))
        for number, line in enumerate(path.read_text(errors="replace").splitlines()):
            if line.strip():
                entries.append(Entry(first_run_ns + number, line, labels))
    return entries


@contextmanager
def demo_loki(state: dict) -> Iterator[tuple[LocalLoki, str]]:
    """The local Loki, serving, and what it holds (for the demo's log); sets the loki and
    sitemaps sources' configuration for this process."""
    runs = state["runs"]
    first_run_ns = state.setdefault("loki_first_run_ns", (time.time_ns() // 10**9 - 3600) * 10**9)
    traffic = WebTraffic(seed=2001)  # one shop: the same pages and sitemap every run
    for _ in range(runs):  # the rng where the previous run left it: new visits
        traffic.generate(LINES_PER_RUN, start=datetime(2026, 1, 1, tzinfo=UTC), seconds=60)
    now = time.time()
    visits = traffic.generate(LINES_PER_RUN, start=datetime.fromtimestamp(now - HOURS * 3600, UTC),
                              seconds=HOURS * 3600 - 60)
    generated = [Entry(int(v.requested_at.timestamp()) * 10**9 + i, v.line("combined_rt"),
                       (("job", "nginx"), ("source", "shop.example")))
                 for i, v in enumerate(visits)]
    recorded = _recorded_entries(first_run_ns) if RECORDED.is_dir() else []
    loki = LocalLoki(store=LogStore(generated + recorded))

    sitemap = data_dir() / "demo_sitemap.xml"
    sitemap.write_text(traffic.sitemap_xml())
    os.environ["SOURCES__LOKI__QUERY"] = '{job="nginx"}'
    os.environ["SOURCES__LOKI__LOG_FORMAT"] = "auto"  # the recorded logs differ in format
    os.environ["SOURCES__LOKI__BACKFILL_HOURS"] = str(HOURS + 2)
    os.environ["SOURCES__SITEMAPS__LOCATIONS"] = f'["{sitemap}"]'
    what = (f"{len(generated):,} generated web shop lines over {HOURS} h"
            + (f" and {len(recorded):,} recorded lines ({', '.join(SOURCE_LABELS.values())})"
               if recorded else " (../shared is not there: no recorded logs)"))
    with loki:
        os.environ["SOURCES__LOKI__BASE_URL"] = loki.url
        yield loki, what


def recorded_spoofers() -> list[tuple]:
    """The rows of the spoofed-crawler mart whose address appears in the recorded logs,
    as the analyst reads them: (crawler, address, hits, first seen)."""
    if not RECORDED.is_dir():
        return []
    addresses = set()
    for path in RECORDED.glob("*.log"):
        for token in path.read_text(errors="replace").split():
            try:
                addresses.add(str(ipaddress.ip_address(token)))
            except ValueError:
                pass
    with roles.connect("analyst") as conn, conn.cursor() as cur:
        cur.execute("select crawler, visitor_address, hits, first_seen_at "
                    "from marts.rpt_logs__spoofed_crawlers where visitor_address = any(%s) "
                    "order by first_seen_at desc", (sorted(addresses),))
        return cur.fetchall()
