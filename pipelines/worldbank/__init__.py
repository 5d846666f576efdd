"""World Bank Indicators API v2: economies, indicator metadata and yearly values, incrementally.

What is loaded is declared in indicators.yml (see settings.py). Every run asks one
`per_page=1` probe per indicator for the data set's `lastupdated`; an indicator whose stamp
equals the one saved with its last successful load is not fetched at all, any other is
fetched in full (a World Bank revision restates whole series, and an indicator is ~17,000
rows) and merged on (indicator_id, country_id, year). The country list is one request and
replaces its table only when it changed. Run it on its own with `python -m pipelines.worldbank`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import orjson
from dlt.common.pipeline import LoadInfo
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from requests.exceptions import RequestException

from pipelines import load
from pipelines.load import HTTP_RETRY, postgres_pipeline
from pipelines.urls import safe_url, split_credentials

from .helpers import (
    COUNTRY_COLUMNS,
    INDICATOR_COLUMNS,
    NOTHING_LOST,
    VALUE_COLUMNS,
    WorldBankError,
    check_page,
    check_progress,
    countries_table,
    explain,
    indicators_table,
    last_updated_text,
    values_table,
)
from .paging import PageMeta, page_meta, world_bank_paginator
from .settings import BASE_URL, DEFAULT_PER_PAGE, Indicator, indicators_file, load_indicators

__all__ = ["WorldBankApi", "WorldBankError", "explain_failure", "load_worldbank", "worldbank_pipeline",
           "worldbank_source"]

log = logging.getLogger(__name__)
SOURCE_NAME = "worldbank"  # the raw schema is raw_worldbank; config lives under [sources.worldbank]
VALUES_KEY = ["indicator_id", "country_id", "year"]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def worldbank_source(
    indicators: Sequence[str] | None = None,
    base_url: str = BASE_URL,
    per_page: int = DEFAULT_PER_PAGE,
    request_timeout: float = 60.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
) -> list[DltResource]:
    """The countries, indicators and indicator_values resources, for every declared indicator
    (or those whose ids are in `indicators`).

    Every value is dlt configuration under `[sources.worldbank]`, for example
    `SOURCES__WORLDBANK__BASE_URL` or `SOURCES__WORLDBANK__PER_PAGE`. Requests time out after
    `request_timeout` seconds and are tried `max_attempts` times with exponential backoff
    (`backoff_factor`) on 429, 5xx, resets and 200s that are not a page.
    """
    declared = load_indicators()
    unknown = sorted(set(indicators or ()) - set(declared))
    if unknown:
        raise ValueError(f"unknown World Bank indicator(s) {', '.join(unknown)}; declared in "
                         f"{indicators_file()}: {', '.join(declared)}. Add a line to that file "
                         "to load another indicator.")
    chosen = [declared[i] for i in dict.fromkeys(indicators or declared)]
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page} (SOURCES__WORLDBANK__PER_PAGE)")
    http = Client(
        request_timeout=request_timeout,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        raise_for_status=False,  # check_page raises, with the URL and what the body said
        **HTTP_RETRY,
    )
    # user:password in the base URL (a proxy's) travels as a header, never in a URL that
    # dlt logs at INFO or an exception repeats
    base_url, auth = split_credentials(base_url.rstrip("/"))
    api = WorldBankApi(RESTClient(base_url=base_url, session=http.session, auth=auth), per_page)
    return [countries_resource(api), indicators_resource(api, chosen),
            indicator_values_resource(api, chosen)]


@dataclass(frozen=True)
class Probe:
    """What a `per_page=1` request says about an indicator before any data is fetched."""

    last_updated: date | None
    title: str | None  # the API's indicator.value, e.g. "Population, total"
    total: int


class WorldBankApi:
    """The requests the source makes: pages of an endpoint, and one probe per indicator.

    Probes are remembered for the run, so the indicators and indicator_values resources
    share one probe per indicator. Every failure leaves here as a WorldBankError.
    """

    def __init__(self, client: RESTClient, per_page: int) -> None:
        self.client = client
        self.per_page = per_page
        self._probes: dict[str, Probe] = {}

    @staticmethod
    def indicator_path(indicator_id: str) -> str:
        return f"country/all/indicator/{indicator_id}"

    def pages(self, path: str) -> Iterator[tuple[list[dict], PageMeta, str]]:
        """(rows, metadata, URL) of every page of `path`, page 1 to the last.

        Each answer must be the page asked for, and the page count within MAX_PAGES
        (check_progress): an API stuck on one page would otherwise have that page's rows
        counted in place of the pages it never sent.
        """
        try:
            for asked, page in enumerate(self.client.paginate(
                path, params={"format": "json", "per_page": self.per_page},
                paginator=world_bank_paginator(),
                data_selector="[1]", hooks={"response": [check_page]},
            ), start=1):
                meta, url = page_meta(page.response.json()), safe_url(page.response.url)
                check_progress(meta, asked, url)
                yield list(page), meta, url
        except RequestException as err:
            raise _explained(err) from err

    def get_page(self, path: str, params: dict[str, Any]) -> tuple[list[dict], PageMeta, str]:
        """(rows, metadata, URL) of one page; `path` may also be an absolute URL."""
        try:
            response = self.client.get(path, params=params, hooks={"response": [check_page]})
        except RequestException as err:
            raise _explained(err) from err
        body = response.json()
        return body[1] or [], page_meta(body), safe_url(response.url)

    def probe(self, indicator_id: str) -> Probe:
        """The indicator's lastupdated, title and row count, from one row (asked once a run)."""
        if indicator_id not in self._probes:
            rows, meta, _ = self.get_page(self.indicator_path(indicator_id),
                                          {"format": "json", "per_page": 1, "page": 1})
            title = ((rows[0] or {}).get("indicator") or {}).get("value") if rows else None
            self._probes[indicator_id] = Probe(meta.last_updated, title, meta.total)
        return self._probes[indicator_id]


def _explained(err: BaseException) -> BaseException:
    return explain(err) or err


def countries_resource(api: WorldBankApi) -> DltResource:
    """Every economy, replacing the table only when the list differs from the last one loaded."""

    # Declared merge, marked replace when the list changed: dlt truncates a replace table
    # even when its resource yields nothing, which would empty it on every unchanged run.
    @dlt.resource(name="countries", write_disposition="merge", primary_key="id",
                  columns=COUNTRY_COLUMNS)
    def countries() -> Iterator[Any]:
        state = dlt.current.resource_state()
        rows: list[dict] = []
        url, total = "", 0
        for page_rows, meta, page_url in api.pages("country"):
            rows.extend(page_rows)
            url = page_url
            total = total or meta.total
        if not rows or len(rows) != total:
            raise WorldBankError(f"the country list: GET {url} returned {len(rows)} economies, its "
                                 f"metadata said {total}. The table was left as it was; rerun "
                                 f"the load. {NOTHING_LOST}")
        digest = hashlib.sha256(orjson.dumps(sorted(rows, key=lambda r: str(r.get("id"))),
                                             option=orjson.OPT_SORT_KEYS)).hexdigest()
        if digest == state.get("hash"):
            log.info("worldbank countries: the list of %d economies is unchanged, skipped", len(rows))
            return
        table = countries_table(rows, url)
        yield dlt.mark.with_hints(table, dlt.mark.make_hints(write_disposition="replace"))
        state["hash"] = digest  # saved with this load, never ahead of it

    return countries()


def indicators_resource(api: WorldBankApi, chosen: list[Indicator]) -> DltResource:
    """A row per indicator whose data, title or declared name/unit changed since its last load."""

    @dlt.resource(name="indicators", write_disposition="merge", primary_key="id",
                  columns=INDICATOR_COLUMNS)
    def indicators() -> Iterator[Any]:
        state = dlt.current.resource_state().setdefault("loaded", {})
        rows, seen = [], {}
        for indicator in chosen:
            probe = api.probe(indicator.id)
            key = [last_updated_text(probe.last_updated), indicator.name, indicator.unit, probe.title]
            if probe.last_updated is None or state.get(indicator.id) != key:
                rows.append({"id": indicator.id, "name": indicator.name, "title": probe.title,
                             "unit": indicator.unit, "last_updated": probe.last_updated})
                seen[indicator.id] = key
        if rows:
            yield indicators_table(rows)
        state.update(seen)

    return indicators()


def indicator_values_resource(api: WorldBankApi, chosen: list[Indicator]) -> DltResource:
    """Every value of each indicator whose `lastupdated` moved, one Arrow table per page."""

    @dlt.resource(name="indicator_values", write_disposition="merge", primary_key=VALUES_KEY,
                  columns=VALUE_COLUMNS)
    def indicator_values() -> Iterator[Any]:
        state = dlt.current.resource_state().setdefault("last_updated", {})
        for indicator in chosen:
            probe = api.probe(indicator.id)
            stamp = last_updated_text(probe.last_updated)
            if stamp is not None and state.get(indicator.id) == stamp:
                log.info("worldbank %s: unchanged since %s, skipped", indicator.id, stamp)
                continue
            yield from _indicator_pages(api, indicator)
            # Every page was yielded: the stamp the probe read (before the first page, so never
            # newer than the data) is saved with this load.
            state[indicator.id] = stamp

    return indicator_values()


def _indicator_pages(api: WorldBankApi, indicator: Indicator) -> Iterator[Any]:
    rows_read, total, url = 0, None, ""
    for rows, meta, url in api.pages(api.indicator_path(indicator.id)):
        total = meta.total if total is None else total
        if rows:
            rows_read += len(rows)
            yield values_table(rows, indicator.id, meta, url)
    if total is not None and rows_read != total:
        raise WorldBankError(
            f"indicator {indicator.id}: read {rows_read} rows up to GET {url}, the first page's "
            f"metadata said {total}: a page came back short or the data changed while it was read. "
            f"Rerun the load. {NOTHING_LOST}")
    log.info("worldbank %s: %d values", indicator.id, rows_read)


def worldbank_pipeline(pipelines_dir: str | Path | None = None) -> dlt.Pipeline:
    """The dlt pipeline `worldbank`, loading into raw_worldbank."""
    return postgres_pipeline(SOURCE_NAME, pipelines_dir)


def explain_failure(err: BaseException) -> WorldBankError | None:
    """The World Bank source's clear error for a failed run, or None."""
    return explain(err)


def load_worldbank(
    credentials: str | None = None,
    pipelines_dir: str | Path | None = None,
    **source_args: Any,
) -> LoadInfo:
    """Loads the declared indicators (or `indicators=[...]`) into raw_worldbank; returns dlt's
    load info. A failure surfaces as a WorldBankError naming the indicator, URL and next step."""
    return load.run_source(worldbank_pipeline(pipelines_dir), worldbank_source(**source_args),
                      credentials=credentials, explain=explain_failure)
