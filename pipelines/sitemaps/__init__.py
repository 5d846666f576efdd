"""Sitemaps: the URLs a site says it has (sitemap.xml, sitemap indexes, gzipped or not),
from URLs or files, into `raw_logs.sitemap_urls`, for the crawl analysis (which pages
bots crawl that the sitemap lacks, and which sitemap pages they never crawl).

Each run reads every configured sitemap whole and replaces the table: a sitemap is a
snapshot. Configuration under `[sources.sitemaps]`: `locations`, a list of sitemap or
sitemap-index URLs or files (SOURCES__SITEMAPS__LOCATIONS='["https://example.com/sitemap.xml"]').

What a sitemap may make the loader read is checked: an index's children must be on the
index's own host over http(s) (a URL) or in its own folder (a file), and so must every
redirect; each sitemap is read once however often it is listed; an index may not point
at another index more than 2 levels deep; a sitemap is read up to 50 MB uncompressed
(the protocol's limit); a DTD or entity declaration is refused in any encoding
(defusedxml). A `user:password@` in a location becomes basic auth for that host, and
errors name locations without it.
"""

from __future__ import annotations

import gzip
import io
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import dlt
import pyarrow as pa
import urllib3.exceptions
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml
from dlt.common.pipeline import LoadInfo
from dlt.sources.helpers.requests import Client
from requests.exceptions import RequestException, Timeout

from pipelines.load import HTTP_RETRY, SourceError, causes, postgres_pipeline, run_source
from pipelines.urls import safe_url, split_credentials

SOURCE_NAME = "sitemaps"
DATASET = "logs"  # beside the log lines: raw_logs.sitemap_urls
MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 2
MAX_REDIRECTS = 5
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
    # raise_for_status=False: a 4xx is reported here with the location, not as requests'
    # HTTPError (whose text is the full URL); 429 and 5xx are still retried by dlt's client
    http = Client(request_timeout=request_timeout, request_max_attempts=max_attempts,
                  raise_for_status=False, **HTTP_RETRY)
    return sitemap_urls(list(locations), http)


@dlt.resource(name="sitemap_urls", write_disposition="replace")
def sitemap_urls(locations: list[str], http: Client) -> Iterator[pa.Table]:
    """One table per sitemap read, so a large index is never held whole."""
    seen: set[str] = set()
    for location in locations:
        for rows in Reader(location, http, seen).sitemaps():
            if rows:  # ADBC cannot COPY an empty Parquet file
                yield pa.Table.from_pylist(rows, schema=SCHEMA)


def read_sitemap(location: str, http: Client | None) -> Iterator[dict]:
    """The <url> entries of one sitemap or index, as rows (no HTTP client: files only)."""
    for rows in Reader(location, http, set()).sitemaps():
        yield from rows


class Reader:
    """Reads one configured location: a sitemap, or an index and what it lists."""

    def __init__(self, location: str, http: Client | None, seen: set[str]):
        self.root, self.auth = split_credentials(location) if _is_url(location) else (location, None)
        self.http, self.seen = http, seen

    def sitemaps(self, location: str | None = None, depth: int = 0) -> Iterator[list[dict]]:
        """The <url> entries of each sitemap, one list per sitemap."""
        location = location or self.root
        if location in self.seen:  # listed twice, or an index that lists itself
            return
        self.seen.add(location)
        document = _parse(location, self.fetch(location))
        if document.tag == f"{_NS}sitemapindex":
            if depth >= MAX_DEPTH:
                raise SitemapError(f"{safe_url(location)}: a sitemap index nested more than "
                                   f"{MAX_DEPTH} levels deep; sitemap indexes may list sitemaps "
                                   "only", retriable=False)
            for child in document.iter(f"{_NS}sitemap"):
                loc = (child.findtext(f"{_NS}loc") or "").strip()
                yield from self.sitemaps(self.child(location, loc), depth + 1)
            return
        if document.tag != f"{_NS}urlset":
            raise SitemapError(f"{safe_url(location)} is not a sitemap: its root element is "
                               f"{document.tag!r}, not urlset or sitemapindex", retriable=False)
        yield [{"loc": (entry.findtext(f"{_NS}loc") or "").strip() or None,
                "lastmod": _lastmod(entry.findtext(f"{_NS}lastmod")),
                "changefreq": (entry.findtext(f"{_NS}changefreq") or "").strip() or None,
                "priority": _number(entry.findtext(f"{_NS}priority")),
                "sitemap": safe_url(location)}
               for entry in document.iter(f"{_NS}url")]

    def child(self, parent: str, loc: str) -> str:
        """An index's child, checked to stay on the index's host or in its folder."""
        if not loc:
            raise SitemapError(f"{safe_url(parent)} lists a sitemap without a <loc>",
                               retriable=False)
        if _is_url(self.root):
            child = urljoin(parent, loc)
            self.check_on_host(child, f"{safe_url(parent)} lists")
            return child
        folder = Path(self.root).resolve().parent
        name = urlsplit(loc).path.rsplit("/", 1)[-1]  # a URL in a local index: its file name
        child = (folder / name).resolve()
        if child.parent != folder or not name:
            raise SitemapError(f"{parent} lists {loc!r}, outside its folder {folder}",
                               retriable=False)
        return str(child)

    def check_on_host(self, url: str, who: str) -> None:
        parts, root = urlsplit(url), urlsplit(self.root)
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            raise SitemapError(f"{who} {safe_url(url)}, which is not a URL", retriable=False) from None
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            raise SitemapError(f"{who} {safe_url(url)}: only http(s) URLs without credentials "
                               "are read", retriable=False)
        if parts.hostname != root.hostname or (parts.port or 0) != (root.port or 0):
            raise SitemapError(f"{who} {safe_url(url)}, on another host: only "
                               f"{root.hostname}, the configured location's host, is read",
                               retriable=False)

    def fetch(self, location: str) -> bytes:
        try:
            if _is_url(location):
                data = self.download(location)
            else:
                with open(location, "rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
            if data[:2] == b"\x1f\x8b":  # gzip, whatever the name says
                with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                    data = unzipped.read(MAX_BYTES + 1)
        except (RequestException, urllib3.exceptions.HTTPError) as err:
            raise SitemapError(f"cannot read the sitemap {safe_url(location)}: {_why(err)}; "
                               "run again later") from None
        except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise SitemapError(f"cannot read the sitemap {safe_url(location)}: "
                               f"{type(err).__name__}: {err}", retriable=False) from None
        if len(data) > MAX_BYTES:
            raise SitemapError(f"{safe_url(location)} is over 50 MB uncompressed, the "
                               "protocol's limit: split it and list the parts in a sitemap "
                               "index", retriable=False)
        return data

    def download(self, url: str) -> bytes:
        """`url`'s body, following redirects only on the configured host."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.http.get(url, stream=True, auth=self.auth, allow_redirects=False)
            if response.is_redirect:
                target = urljoin(url, response.headers["location"])
                response.close()
                self.check_on_host(target, f"{safe_url(url)} redirects to")
                url = target
                continue
            if response.status_code != 200:
                status = f"{response.status_code} {response.reason or ''}".strip()
                response.close()
                raise SitemapError(f"{safe_url(url)} answered {status}: check the location "
                                   "(SOURCES__SITEMAPS__LOCATIONS, or the index listing it)",
                                   retriable=response.status_code >= 500)
            return response.raw.read(MAX_BYTES + 1, decode_content=True)
        raise SitemapError(f"{safe_url(url)}: more than {MAX_REDIRECTS} redirects",
                           retriable=False)


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def _why(err: BaseException) -> str:
    """What went wrong, without the URL requests and urllib3 put in their messages."""
    if isinstance(err, Timeout):
        return "no answer in time (request_timeout) after every retry"
    return f"{type(err).__name__} after every retry"


def _parse(location: str, data: bytes) -> ET.Element:
    try:
        return parse_xml(data, forbid_dtd=True)
    except DefusedXmlException:
        raise SitemapError(f"{safe_url(location)} declares a DTD or entities, which sitemaps "
                           "never need: refused", retriable=False) from None
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


def explain_failure(err: BaseException) -> SitemapError | None:
    return next((c for c in causes(err) if isinstance(c, SitemapError)), None)


def load_sitemaps(pipelines_dir=None, **source_args) -> LoadInfo:
    """Every configured sitemap into raw_logs.sitemap_urls (replaced)."""
    return run_source(sitemaps_pipeline(pipelines_dir), sitemaps_source(**source_args),
                      explain=explain_failure)
