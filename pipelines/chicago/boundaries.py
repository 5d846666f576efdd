"""Boundary layers (GeoJSON): the whole layer replaced when the portal says it changed.

Boundaries change a few times a decade, so paging them by `:updated_at` buys nothing;
the portal's view metadata (`/api/views/<id>.json`) has `rowsUpdatedAt`, the time its
rows last changed. A run that finds the stamp it loaded last time fetches nothing and
leaves the table alone; otherwise it fetches the `.geojson` export and replaces the table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource
from requests import Session

from pipelines.urls import safe_url

from .arrow import REASON, RECORD, PageToArrow
from .helpers import SocrataError, check_document
from .settings import Dataset

log = logging.getLogger(__name__)


def boundary_resource(dataset: Dataset, base_url: str, session: Session,
                      headers: dict[str, str], timeout: float) -> DltResource:
    """A resource that replaces `dataset`'s table when its `rowsUpdatedAt` moved."""
    to_arrow = PageToArrow(dataset.columns, primary_key=dataset.primary_key)

    # Declared merge, marked replace when there is a layer: dlt truncates a replace table
    # even when its resource yields nothing, which would empty the layer on every skip.
    @dlt.resource(name=dataset.name, write_disposition="merge", primary_key=dataset.primary_key,
                  columns=dataset.columns)
    def layer() -> Iterator[Any]:
        state = dlt.current.resource_state()
        views = _get(session, f"{base_url}api/views/{dataset.id}.json", headers, timeout)
        stamp = views.get("rowsUpdatedAt") if isinstance(views, dict) else None
        if stamp is not None and stamp == state.get("rows_updated_at"):
            log.info("%s (%s): unchanged since %s, skipped", dataset.name, dataset.id, stamp)
            return
        url = f"{base_url}resource/{dataset.id}.geojson"
        body = _get(session, url, headers, timeout, params={"$limit": 50_000})
        features = body.get("features") if isinstance(body, dict) else None
        if not isinstance(features, list):
            raise SocrataError(f"dataset {dataset.name} ({dataset.id}): GET {safe_url(url)} did not "
                               "return a GeoJSON FeatureCollection. The table was left as it was.")
        rows = [{**(f.get("properties") or {}), "the_geom": f.get("geometry")} for f in features]
        table = to_arrow(rows)
        _refuse_rejects(dataset, table)
        state["rows_updated_at"] = stamp  # saved with this load, never ahead of it
        if isinstance(table, pa.Table):
            yield dlt.mark.with_hints(table, dlt.mark.make_hints(write_disposition="replace"))

    return layer()


def _get(session: Session, url: str, headers: dict[str, str], timeout: float,
         params: dict | None = None) -> Any:
    # check_document raises inside the request on a truncated or non-JSON 200: retried
    response = session.get(url, headers=headers, timeout=timeout, params=params,
                           hooks={"response": [check_document]})
    response.raise_for_status()  # explain() turns it into a clear SocrataError
    return response.json()


def _refuse_rejects(dataset: Dataset, table: Any) -> None:
    # A layer is replaced whole or not at all: a half layer would leave points unlocated.
    if not isinstance(table, pa.Table) or REASON not in table.column_names:
        return
    bad = table.filter(table[REASON].is_valid())
    first = bad.slice(0, 1).to_pylist()[0]
    raise SocrataError(
        f"dataset {dataset.name} ({dataset.id}): {bad.num_rows} feature(s) cannot be loaded, "
        f"first: {first[REASON]} in {first[RECORD][:200]}. The layer was left as it was: fix "
        f"the layer upstream or its declared columns in datasets.yml.", retriable=False)
