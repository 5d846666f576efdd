"""Boundary layers (community areas igwz-8jzy, ZIP codes unjd-c2ca) served like the portal's.

`/resource/<id>.geojson` answers a FeatureCollection of the layer's features;
`/resource/<id>.json` answers rows, each feature's properties plus its geometry
as the `the_geom` column (a GeoJSON object), as the portal does. Both honour the
usual SoQL parameters. A layer has no per-row history: one stamp covers it, and
`replace_features` or `touch` moves it, which `/api/views/<id>.json` reports as
rowsUpdatedAt. Features come from `boundaries` (synthetic, tiling the city exactly).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from . import boundaries
from .soql import MULTIPOLYGON, NUMBER, Query, Schema, in_order, matches
from .times import fixed_text, to_ms
from .views import view_metadata

GEOMETRY_COLUMN = "the_geom"
# When the synthetic layers were last published (any fixed instant would do).
PUBLISHED_AT = datetime(2024, 1, 8, 16, 0, tzinfo=UTC)


class BoundaryDataset:
    """A boundary layer: features in memory, one change stamp for all of them."""

    def __init__(self, dataset_id: str, title: str, key: str, properties: tuple[str, ...],
                 features: Iterable[Mapping[str, Any]], *, numbers: tuple[str, ...] = (),
                 updated_at: datetime = PUBLISHED_AT) -> None:
        self.dataset_id, self.title, self.key = dataset_id, title, key
        self.schema = Schema((*properties, GEOMETRY_COLUMN),
                             {GEOMETRY_COLUMN: MULTIPOLYGON, **dict.fromkeys(numbers, NUMBER)})
        self._lock = threading.Lock()
        self._created_ms = self._updated_ms = to_ms(updated_at)
        self._rows = self._to_rows(features)

    def _to_rows(self, features: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for feature in features:
            row = {k: v for k, v in feature.get("properties", {}).items() if v is not None}
            if feature.get("geometry") is not None:
                row[GEOMETRY_COLUMN] = feature["geometry"]
            rows.append(copy.deepcopy(row))
        return rows

    # --- the layer --------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def features(self) -> list[dict[str, Any]]:
        """The layer as GeoJSON features (copies: changing them changes nothing served)."""
        with self._lock:
            rows = copy.deepcopy(self._rows)
        return [{"type": "Feature",
                 "properties": {k: v for k, v in row.items() if k != GEOMETRY_COLUMN},
                 "geometry": row.get(GEOMETRY_COLUMN)} for row in rows]

    def replace_features(self, features: Iterable[Mapping[str, Any]], at: datetime | None = None) -> None:
        """Publish a new version of the layer: these features, and a later rowsUpdatedAt."""
        rows = self._to_rows(features)
        with self._lock:
            self._rows = rows
            self._bump(at)

    def touch(self, at: datetime | None = None) -> None:
        """Re-publish the same features: only rowsUpdatedAt moves (the portal does this too)."""
        with self._lock:
            self._bump(at)

    def _bump(self, at: datetime | None) -> None:
        # Never backwards, always moving: loaders compare it for equality.
        at_ms = to_ms(at) if at is not None else self._updated_ms + 60_000
        self._updated_ms = max(at_ms // 1000 * 1000, self._updated_ms + 1000)

    @property
    def rows_updated_at(self) -> datetime:
        return datetime.fromtimestamp(self._updated_ms / 1000, tz=UTC)

    def metadata(self) -> dict[str, Any]:
        """The `/api/views/<id>.json` body; rowsUpdatedAt moves on replace_features or touch."""
        return view_metadata(self.dataset_id, self.title, self.schema, created_ms=self._created_ms,
                             rows_updated_ms=self._updated_ms, display_type="map")

    def truth(self) -> Iterator[dict[str, Any]]:
        """Every row as served by `.json` with `$select=:*,*`."""
        with self._lock:
            rows, stamp = copy.deepcopy(self._rows), fixed_text(self._updated_ms)
        for i, row in enumerate(rows):
            yield {":id": _sid(i), ":created_at": stamp, ":updated_at": stamp, **row}

    # --- querying ---------------------------------------------------------

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Rows of one page (or `[{"count": "N"}]`): filtered and ordered in memory."""
        with self._lock:
            rows, updated = list(enumerate(self._rows)), self._updated_ms

        def value(item: tuple[int, dict[str, Any]], column: str) -> Any:
            i, row = item
            if column == ":id":
                return _sid(i)
            if column in (":created_at", ":updated_at"):
                return self._created_ms if column == ":created_at" else updated
            cell = row.get(column)
            if self.schema.kind(column) == NUMBER:
                try:
                    return float(cell)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    return None
            return cell if isinstance(cell, str) else None

        if q.where is not None:
            rows = [item for item in rows if matches(q.where, lambda c, item=item: value(item, c))]
        if q.count:
            return [{"count": str(len(rows))}]
        page = in_order(rows, q.order, value)[q.offset:q.offset + q.limit]
        out = []
        for i, row in page:
            served = {":id": _sid(i), ":created_at": fixed_text(self._created_ms),
                      ":updated_at": fixed_text(updated), **row}
            out.append({c: copy.deepcopy(served[c]) for c in q.select if c in served})
        return out


def _sid(index: int) -> str:
    return f"row-{index // 10_000:04d}-{index % 10_000:04d}-geom"


def community_areas(updated_at: datetime = PUBLISHED_AT) -> BoundaryDataset:
    """Boundaries - Community Areas (igwz-8jzy): 77 areas keyed by area_numbe."""
    return BoundaryDataset("igwz-8jzy", "Boundaries - Community Areas", "area_numbe",
                           ("area_numbe", "community", "area_num_1", "shape_area", "shape_len"),
                           boundaries.community_area_features(), numbers=("shape_area", "shape_len"),
                           updated_at=updated_at)


def zip_codes(updated_at: datetime = PUBLISHED_AT) -> BoundaryDataset:
    """Boundaries - ZIP Codes (unjd-c2ca): 59 ZIP codes keyed by zip."""
    return BoundaryDataset("unjd-c2ca", "Boundaries - ZIP Codes", "zip",
                           ("zip", "objectid", "shape_area", "shape_len"), boundaries.zip_code_features(),
                           numbers=("objectid", "shape_area", "shape_len"), updated_at=updated_at)

