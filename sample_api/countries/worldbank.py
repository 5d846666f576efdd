"""World Bank Indicators API v2 requests (`/v2/...`) answered from a `CountryUniverse`.

Shapes follow the recorded responses of api.worldbank.org: a JSON array `[meta, rows]`,
`per_page` a string in the country list's meta but a number in an indicator page's meta,
`[meta, null]` past the last page, an invalid indicator or country answered with HTTP 200
and a `message` body, and anything the API cannot parse (a format other than json, a
source other than 2, a non-numeric page) answered with HTTP 400 and an HTML page.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..server import _Reply as Reply
from .universe import CountryUniverse

JSON = "application/json;charset=utf-8"
MAX_PER_PAGE = 32_500
SOURCE_ID, SOURCE_NAME = "2", "World Development Indicators"
# The IIS "Request Error" page the API answers a 400 with (BOM and CRLF included).
REQUEST_ERROR_PAGE = (
    "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
    "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\r\n"
    "<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n"
    "  <head>\r\n    <title>Request Error</title>\r\n"
    "    <style>BODY { color: #000000; background-color: white; font-family: Verdana; }</style>\r\n"
    "  </head>\r\n  <body>\r\n    <div id=\"content\">\r\n"
    "      <p class=\"heading1\">Request Error</p>\r\n"
    "      <p>The server encountered an error processing the request. See server logs for more "
    "details.</p>\r\n    </div>\r\n  </body>\r\n</html>"
).encode()
INVALID_VALUE = [{"message": [{"id": "120", "key": "Invalid value",
                               "value": "The provided parameter value is not valid"}]}]


class RequestError(Exception):
    """A request the real API answers with HTTP 400 and the HTML Request Error page."""


def request_error() -> Reply:
    return Reply(400, REQUEST_ERROR_PAGE, "text/html")


def is_data_path(path: str) -> bool:
    """True for the /v2 endpoints Pulse reads (the country list and indicator pages)."""
    parts = path.strip("/").split("/")
    return len(parts) >= 2 and parts[0] == "v2" and parts[1].lower() in ("country", "countries")


def handle(universe: CountryUniverse, path: str, params: dict[str, str], *, empty: bool = False) -> Reply:
    """The reply to one /v2 request; `empty` serves the page's meta with no rows (a fault)."""
    parts = [p for p in path.strip("/").split("/")[1:] if p]
    try:
        if params.get("format", "").lower() != "json":
            raise RequestError("only format=json is served")
        if "source" in params and params["source"] != SOURCE_ID:
            raise RequestError(f"unknown source {params['source']!r}")
        page = _positive(params.get("page", "1"))
        per_page = min(_positive(params.get("per_page", "50")), MAX_PER_PAGE)
        if not parts or parts[0].lower() not in ("country", "countries"):
            return Reply.of_json(200, INVALID_VALUE)
        economies = _economies(universe, parts[1] if len(parts) > 1 else "all")
        if economies is None:
            return Reply.of_json(200, INVALID_VALUE)
        if len(parts) <= 2:
            return _country_page(universe, economies, page, per_page, empty)
        if len(parts) == 4 and parts[2].lower() in ("indicator", "indicators"):
            return _indicator_page(universe, parts[3], economies, params, page, per_page, empty)
        return Reply.of_json(200, INVALID_VALUE)
    except RequestError:
        return request_error()


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise RequestError(f"not a positive integer: {text!r}")
    return int(text)


def _economies(universe: CountryUniverse, selector: str) -> set[str] | None:
    """ISO3 codes selected by "all" or "JPN;US;WLD" (ISO3 or ISO2 ids), None if one is unknown."""
    if selector.lower() == "all":
        return set(universe.economies)
    by_code = {c.iso3.upper(): c.iso3 for c in universe.countries}
    by_code.update({c.iso2.upper(): c.iso3 for c in universe.countries})
    picked = {by_code.get(code.strip().upper()) for code in selector.split(";")}
    return None if None in picked else picked  # type: ignore[return-value]


def _page(rows: list[Any], page: int, per_page: int) -> tuple[int, list[Any] | None]:
    pages = math.ceil(len(rows) / per_page)
    if page > pages:
        return pages, None
    return pages, rows[(page - 1) * per_page: page * per_page]


def _country_page(universe: CountryUniverse, economies: set[str], page: int, per_page: int,
                  empty: bool) -> Reply:
    listed = [c for c in universe.countries if c.iso3 in economies]
    pages, chunk = _page(listed, page, per_page)
    meta = {"page": page, "pages": pages, "per_page": str(per_page), "total": len(listed)}
    body = None if chunk is None else [] if empty else [c.api_object() for c in chunk]
    return _json(meta, body)


def _indicator_page(universe: CountryUniverse, indicator_id: str, economies: set[str],
                    params: dict[str, str], page: int, per_page: int, empty: bool) -> Reply:
    indicator = universe.indicator(indicator_id)
    if indicator is None:
        return Reply.of_json(200, INVALID_VALUE)
    rows = universe.worldbank_rows(indicator.id)
    if len(economies) != len(universe.economies):
        rows = [r for r in rows if r["countryiso3code"] in economies]
    try:
        rows = _by_date(rows, params)
    except ValueError:
        return Reply.of_json(200, INVALID_VALUE)
    pages, chunk = _page(rows, page, per_page)
    meta = {"page": page, "pages": pages, "per_page": per_page, "total": len(rows),
            "sourceid": SOURCE_ID, "sourcename": SOURCE_NAME,
            "lastupdated": universe.last_updated(indicator.id).isoformat()}
    return _json(meta, None if chunk is None else [] if empty else chunk)


def _by_date(rows: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """Rows within date=Y or Y1:Y2, then the most recent mrv years (that have data anywhere)
    or mrnev non-empty values per economy. ValueError on a value the API rejects."""
    if params.get("date"):
        low, _, high = params["date"].partition(":")
        first, last = int(low), int(high or low)
        rows = [r for r in rows if first <= int(r["date"]) <= last]
    if params.get("mrv"):
        k = int(params["mrv"])
        years = sorted({r["date"] for r in rows if r["value"] is not None}, reverse=True)[:k]
        rows = [r for r in rows if r["date"] in years]
    if params.get("mrnev"):
        k, seen = int(params["mrnev"]), {}
        kept = []
        for r in rows:
            if r["value"] is not None and seen.get(r["countryiso3code"], 0) < k:
                seen[r["countryiso3code"]] = seen.get(r["countryiso3code"], 0) + 1
                kept.append(r)
        rows = kept
    return rows


def _json(meta: dict[str, Any], rows: list[Any] | None) -> Reply:
    body = json.dumps([meta, rows], separators=(",", ":"), ensure_ascii=False).encode()
    return Reply(200, body, JSON, rows=len(rows or ()))
