"""Sitemaps: the URLs a site says it has (sitemap.xml, sitemap indexes, gzipped or not),
from URLs or files, into `raw_logs.sitemap_urls`, for the crawl analysis (which pages
bots crawl that the sitemap lacks, and which sitemap pages they never crawl).

Each run reads every configured sitemap whole and replaces the table: a sitemap is a
snapshot. Configuration under `[sources.sitemaps]`: `locations`, a list of sitemap or
sitemap-index URLs or files (SOURCES__SITEMAPS__LOCATIONS='["https://example.com/sitemap.xml"]').

What a sitemap may make the loader read is checked: an index's children must be on the
index's own host (a URL) or in its own folder (a file); an index may not point at
another index more than 2 levels deep; a sitemap is read up to 50 MB uncompressed
(the protocol's limit).
"""

from __future__ import annotations

import gzip
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import dlt
import pyarrow as pa
from dlt.common.pipeline import LoadInfo
from dlt.sources.helpers.requests import Client
from requests.exceptions import RequestException

from pipelines.load import SourceError, causes, postgres_pipeline, run_source
from pipelines.urls import safe_url

SOURCE_NAME = "sitemaps"
DATASET = "logs"  # beside the log lines: raw_logs.sitemap_urls
MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 2
_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SCHEMA = pa.schema([("loc", pa.string()), ("lastmod", pa.timestamp("us", tz="UTC")),
                    ("changefreq", pa.string()), ("priority", pa.float64()),
                    ("sitemap", pa.string())])


class SitemapError(SourceError):
    pass


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def sitemaps_source(locations: Sequence[str] = dlt.config.value, request_timeout: float = 60.0,
                    max_attempts: int = 5):
    if isinstance(locations, str):
        locations = [locations]
    if not locations:
        raise SitemapError("no sitemap configured: set SOURCES__SITEMAPS__LOCATIONS to a list "
                           "of sitemap URLs or files", retriable=False)
    http = Client(request_timeout=request_timeout, request_max_attempts=max_attempts)
    return sitemap_urls(list(locations), http)


@dlt.resource(name="sitemap_urls", write_disposition="replace")
def sitemap_urls(locations: list[str], http: Client) -> Iterator[pa.Table]:
    for location in locations:
        rows = list(read_sitemap(location, http))
        if rows:  # ADBC cannot COPY an empty Parquet file
            yield pa.Table.from_pylist(rows, schema=SCHEMA)


def read_sitemap(location: str, http: Client, depth: int = 0,
                 root: str | None = None) -> Iterator[dict]:
    """The <url> entries of a sitemap, or of every sitemap an index lists."""
    root = root or location
    document = _parse(location, _fetch(location, http))
    if document.tag == f"{_NS}sitemapindex":
        if depth >= MAX_DEPTH:
            raise SitemapError(f"{safe_url(location)}: a sitemap index nested more than "
                               f"{MAX_DEPTH} levels deep; sitemap indexes may list sitemaps only",
                               retriable=False)
        for child in document.iter(f"{_NS}sitemap"):
            loc = (child.findtext(f"{_NS}loc") or "").strip()
            yield from read_sitemap(_child(location, loc, root), http, depth + 1, root)
        return
    if document.tag != f"{_NS}urlset":
        raise SitemapError(f"{safe_url(location)} is not a sitemap: its root element is "
                           f"{document.tag!r}, not urlset or sitemapindex", retriable=False)
    for entry in document.iter(f"{_NS}url"):
        yield {"loc": (entry.findtext(f"{_NS}loc") or "").strip() or None,
               "lastmod": _lastmod(entry.findtext(f"{_NS}lastmod")),
               "changefreq": (entry.findtext(f"{_NS}changefreq") or "").strip() or None,
               "priority": _number(entry.findtext(f"{_NS}priority")),
               "sitemap": safe_url(location)}


def _child(parent: str, loc: str, root: str) -> str:
    """An index's child, checked to stay on the index's host or in its folder."""
    if not loc:
        raise SitemapError(f"{safe_url(parent)} lists a sitemap without a <loc>", retriable=False)
    if _is_url(root):
        child = urljoin(parent, loc)
        if urlsplit(child).netloc != urlsplit(root).netloc:
            raise SitemapError(f"{safe_url(parent)} lists {safe_url(child)}, on another host: "
                               "only the index's own host is read", retriable=False)
        return child
    folder = Path(root).resolve().parent
    name = urlsplit(loc).path.rsplit("/", 1)[-1]  # a URL in a local index: its file name
    child = (folder / name).resolve()
    if child.parent != folder or not name:
        raise SitemapError(f"{parent} lists {loc!r}, outside its folder {folder}", retriable=False)
    return str(child)


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def _fetch(location: str, http: Client) -> bytes:
    try:
        if _is_url(location):
            response = http.get(location, stream=True)
            if response.status_code != 200:
                raise SitemapError(f"{safe_url(location)} answered {response.status_code}: "
                                   f"{response.text[:200]!r}", retriable=response.status_code >= 500)
            data = response.raw.read(MAX_BYTES + 1, decode_content=True)
        else:
            with open(location, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except (RequestException, OSError) as err:
        raise SitemapError(f"cannot read the sitemap {safe_url(location)}: {err}") from None
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the name says
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            data = unzipped.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SitemapError(f"{safe_url(location)} is over 50 MB uncompressed, the protocol's "
                           "limit: split it and list the parts in a sitemap index", retriable=False)
    return data


def _parse(location: str, data: bytes) -> ET.Element:
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise SitemapError(f"{safe_url(location)} declares a DTD or entities, which sitemaps "
                           "never need: refused", retriable=False)
    try:
        return ET.fromstring(data)
    except ET.ParseError as err:
        raise SitemapError(f"{safe_url(location)} is not well-formed XML ({err})",
                           retriable=False) from None


def _lastmod(text: str | None) -> datetime | None:
    """W3C datetime: a date, or a date and time with a zone; None when it does not read."""
    if not text or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text and text.strip() else None
    except ValueError:
        return None


def sitemaps_pipeline(pipelines_dir=None) -> dlt.Pipeline:
    return postgres_pipeline(DATASET, pipelines_dir, pipeline_name=SOURCE_NAME)


def load_sitemaps(pipelines_dir=None, **source_args) -> LoadInfo:
    """Every configured sitemap into raw_logs.sitemap_urls (replaced)."""
    def explain(err: BaseException) -> SitemapError | None:
        return next((c for c in causes(err) if isinstance(c, SitemapError)), None)

    return run_source(sitemaps_pipeline(pipelines_dir), sitemaps_source(**source_args),
                      explain=explain)
