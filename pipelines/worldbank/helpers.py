"""World Bank specifics: response checks, clear errors, and pages as typed Arrow tables.

The API answers most mistakes with HTTP 200: an unknown indicator or country is
`[{"message": [{"id": "120", "key": "Invalid value", ...}]}]`, and a proxy in front of it
may send an HTML page. `check_page` runs inside every request (a response hook) so such a
body is never taken for data; `explain` turns whatever ended a run into a WorldBankError
that says which indicator, which URL, and what to do.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
from dlt.common.schema.typing import TTableSchemaColumns
from requests import Response
from requests.exceptions import ChunkedEncodingError, HTTPError, RequestException

from pipelines.load import SourceError, causes
from pipelines.urls import safe_url

from .paging import MAX_PAGES, PageMeta, page_meta

NOTHING_LOST = ("Nothing from this run was loaded and no indicator's state moved: the next run "
                "fetches again whatever this one did not load.")
_INDICATOR_IN_PATH = re.compile(r"/countr(?:y|ies)/([^/?]+)/indicators?/([^/?]+)")


class WorldBankError(SourceError):
    """A World Bank request failed for good: says which indicator, which URL and what to do.

    `retriable` is False when running again cannot help (an unknown indicator, a bad request).
    """


class WorldBankBadPage(ChunkedEncodingError):
    """A 200 whose body is not a World Bank page (`[meta, rows]`): an HTML proxy page, a cut body.

    A ChunkedEncodingError on purpose: dlt's HTTP client retries those, and both causes
    are usually transient.
    """


def subject(url: str) -> str:
    """What a request was for, by its URL: "indicator SP.POP.TOTL" or "the country list"."""
    path = urlsplit(url).path
    if match := _INDICATOR_IN_PATH.search(path):
        countries, indicator = match.groups()
        return f"indicator {indicator}" + ("" if countries == "all" else f" (countries {countries})")
    if match := re.search(r"/indicators?/([^/?]+)/?$", path):  # the indicator's metadata
        return f"indicator {match.group(1)}"
    if re.search(r"/countr(?:y|ies)/?$", path):
        return "the country list"
    return "the World Bank source"


def api_messages(body: Any) -> list[dict] | None:
    """The API's error messages when `body` is `[{"message": [...]}]` instead of data, else None."""
    if (isinstance(body, list) and body and isinstance(body[0], dict)
            and isinstance(body[0].get("message"), list)):
        return [m for m in body[0]["message"] if isinstance(m, dict)]
    return None


def check_page(response: Response, *args: Any, **kwargs: Any) -> Response:
    """Response hook: a 200 must carry `[meta, rows]`; parse it once and keep it.

    Runs on every attempt, before dlt's retry decides: an error status is raised as an
    HTTPError, which dlt retries for 429 and 5xx and hands back after the last attempt;
    a 200 HTML or cut body is a WorldBankBadPage (retried); the API's own error message is
    a WorldBankError (not retried: asking again gets the same answer).
    """
    if response.status_code >= 400:
        raise HTTPError(f"HTTP {response.status_code} for {safe_url(response.url)}", response=response)
    if response.status_code != 200:
        return response
    url = safe_url(response.url)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as err:
        kind = "an HTML page" if _is_html(response) else "not valid JSON"
        raise WorldBankBadPage(
            f"{subject(url)}: GET {url} returned HTTP 200 with a body that is {kind} "
            f"({err}; {len(response.content)} bytes: {_snippet(response)}). A proxy or the API "
            "may be overloaded, or the connection was cut: rerun the load."
        ) from None
    messages = api_messages(body)
    if messages is not None:
        raise WorldBankError(_message_text(url, messages), retriable=False)
    if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], dict)
            and isinstance(body[1], list | None)):
        raise WorldBankBadPage(f"{subject(url)}: GET {url} returned HTTP 200 with JSON that is not "
                               f"a page [meta, rows]: {str(body)[:200]}")
    try:
        meta = page_meta(body)
    except ValueError as err:
        raise WorldBankBadPage(f"{subject(url)}: GET {url} returned HTTP 200 with unreadable page "
                               f"metadata ({err}).") from None
    if not body[1] and meta.total > 0 and meta.page <= meta.pages:
        # Past the last page the API sends [meta, null]; a page within the range has rows.
        raise WorldBankBadPage(f"{subject(url)}: GET {url} returned page {meta.page} of {meta.pages} "
                               f"({meta.total} rows in all) without any rows: a cut or stale answer.")
    # The caller calls response.json() next (paginator, data selector): hand it the parsed body.
    response.json = lambda **_: body  # type: ignore[method-assign]
    return response


def check_progress(meta: PageMeta, asked: int, url: str, max_pages: int = MAX_PAGES) -> None:
    """Raises a WorldBankError unless the answer to the request for page `asked` is that page
    and the page count is at most `max_pages`.

    The paginator asks for pages 1, 2, 3, ... up to the count each answer states; an API or
    a cache that answers every request with page 1 would have page 1 read three times, and
    with a row count that happens to match, the run would succeed without two thirds of
    the rows.
    """
    if meta.page != asked:
        raise WorldBankError(
            f"{subject(url)}: GET {url} asked for page {asked} and the API answered page "
            f"{meta.page} of {meta.pages}: it is not moving through the pages (the API, or a "
            "proxy or cache in front of it, ignores the page parameter), so the rows of the "
            "pages it skips would never be read. Retry later; if it persists, check "
            f"SOURCES__WORLDBANK__BASE_URL and what sits in front of the API. {NOTHING_LOST}")
    if meta.pages > max_pages:
        raise WorldBankError(
            f"{subject(url)}: GET {url} says {meta.total} rows in {meta.pages} pages of "
            f"{meta.per_page}, more than the {max_pages} pages a load reads of one endpoint. "
            "Raise SOURCES__WORLDBANK__PER_PAGE (the API serves up to 32,500 rows a page), or "
            f"check the indicator in pipelines/worldbank/indicators.yml. {NOTHING_LOST}",
            retriable=False)


def _message_text(url: str, messages: list[dict]) -> str:
    what = subject(url)
    said = "; ".join(sorted({f"{m.get('id')} {m.get('key')}: {m.get('value')}" for m in messages}))
    if what.startswith("indicator"):
        hint = ("The World Bank does not know this indicator: check its id in "
                "pipelines/worldbank/indicators.yml (or the file PULSE_WORLDBANK_INDICATORS names) "
                "against https://api.worldbank.org/v2/indicator/<id>?format=json.")
    else:
        hint = "Check SOURCES__WORLDBANK__BASE_URL points at the Indicators API v2."
    return (f"{what}: GET {url} returned HTTP 200 with the API's error message instead of data "
            f"({said}). {hint} Not retried: asking again gets the same answer. {NOTHING_LOST}")


def _is_html(response: Response) -> bool:
    head = response.content[:200].lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    return "html" in response.headers.get("Content-Type", "") or head.startswith((b"<!doctype", b"<html",
                                                                                    b"<?xml"))


def _snippet(response: Response) -> str:
    text = response.content[:2000].decode("utf-8", "replace")
    if _is_html(response) and (title := re.search(r"<title>(.*?)</title>", text, re.S | re.I)):
        return f"title {title.group(1).strip()!r}"
    return repr(text[:120])


def explain(err: BaseException) -> WorldBankError | None:
    """Turns an HTTP failure somewhere in `err`'s chain into a WorldBankError, else None."""
    for cause in causes(err):
        if isinstance(cause, WorldBankError):
            return cause
        if isinstance(cause, WorldBankBadPage):
            return WorldBankError(f"{cause} It kept happening after every retry. {NOTHING_LOST}")
        if isinstance(cause, HTTPError) and cause.response is not None:
            return _http_error(cause.response)
        if isinstance(cause, RequestException) and cause.request is not None:
            # no answer at all: connection refused or reset, or past the request timeout
            url = safe_url(cause.request.url)
            return WorldBankError(
                f"{subject(url)}: GET {url} failed after every retry: {type(cause).__name__}. "
                "The API is unreachable or too slow: check SOURCES__WORLDBANK__BASE_URL and the "
                f"network, or raise SOURCES__WORLDBANK__REQUEST_TIMEOUT. {NOTHING_LOST}")
    return None


def _http_error(response: Response) -> WorldBankError:
    status = response.status_code
    url = safe_url(response.url)
    detail = _snippet(response) if response.content else "an empty body"
    if status == 429:
        hint = "The API kept rate limiting after every retry: retry later."
    elif status >= 500:
        hint = "The API kept failing after every retry: retry later."
    elif status == 404:
        hint = "Check SOURCES__WORLDBANK__BASE_URL points at the Indicators API v2."
    else:
        hint = ("The API refused the request itself (a parameter it does not accept): check the "
                "indicator id in pipelines/worldbank/indicators.yml and SOURCES__WORLDBANK__BASE_URL. "
                "Not retried: asking again gets the same answer.")
    return WorldBankError(f"{subject(url)}: GET {url} returned HTTP {status} ({detail}). {hint} "
                          f"{NOTHING_LOST}", retriable=status == 429 or status >= 500)


# Raw tables (the contract in issue #6). Arrow types match the declared dlt types, so dlt
# writes each page straight to Parquet without its row-by-row normalizer.

COUNTRY_COLUMNS: TTableSchemaColumns = {
    "id": {"data_type": "text", "nullable": False, "primary_key": True},
    "iso2_code": {"data_type": "text"},
    "name": {"data_type": "text"},
    "region_id": {"data_type": "text"},
    "region_name": {"data_type": "text"},
    "income_level_id": {"data_type": "text"},
    "income_level_name": {"data_type": "text"},
    "lending_type_id": {"data_type": "text"},
    "capital_city": {"data_type": "text"},
    "longitude": {"data_type": "double"},
    "latitude": {"data_type": "double"},
    "is_aggregate": {"data_type": "bool"},
}
INDICATOR_COLUMNS: TTableSchemaColumns = {
    "id": {"data_type": "text", "nullable": False, "primary_key": True},
    "name": {"data_type": "text"},
    "title": {"data_type": "text"},
    "unit": {"data_type": "text"},
    "last_updated": {"data_type": "date"},
}
VALUE_COLUMNS: TTableSchemaColumns = {
    "indicator_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "country_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "country_iso3": {"data_type": "text"},
    "country_name": {"data_type": "text"},
    "year": {"data_type": "bigint", "nullable": False, "primary_key": True},
    "value": {"data_type": "double"},
    "unit": {"data_type": "text"},
    "obs_status": {"data_type": "text"},
    "decimal": {"data_type": "bigint"},
    "last_updated": {"data_type": "date"},
}
_ARROW = {"text": pa.string(), "double": pa.float64(), "bool": pa.bool_(), "bigint": pa.int64(),
          "date": pa.date32()}


def _schema(columns: TTableSchemaColumns) -> pa.Schema:
    return pa.schema([pa.field(name, _ARROW[c["data_type"]], nullable=c.get("nullable", True))
                      for name, c in columns.items()])


COUNTRY_SCHEMA, INDICATOR_SCHEMA, VALUE_SCHEMA = map(_schema, (COUNTRY_COLUMNS, INDICATOR_COLUMNS,
                                                               VALUE_COLUMNS))


def _number(value: Any) -> float | None:
    """A coordinate or value as a float; "" and null are null (aggregates have no capital)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def values_table(rows: list[dict], indicator_id: str, meta: PageMeta, url: str) -> pa.Table:
    """One page of indicator values as an Arrow table in VALUE_SCHEMA.

    `indicator_id` is the declared id (the merge key and the join to `indicators`), whatever
    case the API spells it in. Raises WorldBankError (not retriable) naming the row when a row
    lacks a field or its `date` is not a year: loading it would need a code change.
    """
    try:
        countries = [row["country"] for row in rows]
        table = {
            "indicator_id": [indicator_id] * len(rows),
            "country_id": [c["id"] for c in countries],
            "country_iso3": [row.get("countryiso3code") or None for row in rows],
            "country_name": [c.get("value") for c in countries],
            "year": [int(row["date"]) for row in rows],
            "value": [row["value"] for row in rows],
            "unit": [row.get("unit") for row in rows],
            "obs_status": [row.get("obs_status") for row in rows],
            "decimal": [row.get("decimal") for row in rows],
            "last_updated": [meta.last_updated] * len(rows),
        }
        try:
            return pa.Table.from_pydict(table, schema=VALUE_SCHEMA)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a value sent as a string: "12.5"
            table["value"] = [_number(v) for v in table["value"]]
            table["decimal"] = [None if d in (None, "") else int(d) for d in table["decimal"]]
            return pa.Table.from_pydict(table, schema=VALUE_SCHEMA)
    except (KeyError, TypeError, ValueError) as err:
        bad = next((row for row in rows if not _value_row_ok(row)), rows[0] if rows else None)
        raise WorldBankError(
            f"indicator {indicator_id}: GET {url} returned a row the source cannot load "
            f"({type(err).__name__}: {err}): {orjson.dumps(bad).decode()[:300]}. Expected "
            "country.id, a year in `date` and a numeric or null `value` (annual data). Remove the "
            f"indicator from indicators.yml or extend pipelines/worldbank/helpers.py. {NOTHING_LOST}",
            retriable=False) from err


def _value_row_ok(row: Any) -> bool:
    try:
        int(row["date"])
        _number(row["value"])
        return isinstance(row["country"]["id"], str)
    except (KeyError, TypeError, ValueError):
        return False


def countries_table(rows: list[dict], url: str) -> pa.Table:
    """The country list as an Arrow table in COUNTRY_SCHEMA."""
    def ref(row: dict, key: str, field: str = "id") -> Any:
        return (row.get(key) or {}).get(field)

    try:
        table = {
            "id": [row["id"] for row in rows],
            "iso2_code": [row.get("iso2Code") for row in rows],
            "name": [row.get("name") for row in rows],
            "region_id": [ref(row, "region") for row in rows],
            "region_name": [ref(row, "region", "value") for row in rows],
            "income_level_id": [ref(row, "incomeLevel") for row in rows],
            "income_level_name": [ref(row, "incomeLevel", "value") for row in rows],
            "lending_type_id": [ref(row, "lendingType") for row in rows],
            "capital_city": [row.get("capitalCity") for row in rows],
            "longitude": [_number(row.get("longitude")) for row in rows],
            "latitude": [_number(row.get("latitude")) for row in rows],
            "is_aggregate": [(ref(row, "region", "value") or "").strip() == "Aggregates"
                             for row in rows],
        }
        return pa.Table.from_pydict(table, schema=COUNTRY_SCHEMA)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise WorldBankError(
            f"the country list: GET {url} returned a country the source cannot load "
            f"({type(err).__name__}: {err}). Expected an id and numeric or empty coordinates. "
            f"{NOTHING_LOST}", retriable=False) from err


def indicators_table(rows: list[dict]) -> pa.Table:
    """Rows of the `indicators` table as an Arrow table in INDICATOR_SCHEMA."""
    return pa.Table.from_pylist(rows, schema=INDICATOR_SCHEMA)


def last_updated_text(value: date | None) -> str | None:
    """A lastupdated date as kept in state (ISO text: state is JSON)."""
    return value.isoformat() if value else None
