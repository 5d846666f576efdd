"""A row model made from a datasets.yml declaration alone (`columns`: name -> type).

So a dataset added by configuration can be served before anyone writes its model.
Values are plausible per declared type and, for text, per column name:
latitude/longitude come from the synthetic boundaries (with their usual gaps and
edge points), zip/community_area/ward look like Chicago's, `*_id`/`*_count`-like
columns are numbers, `*date*`/`*_at`/`*_on` are floating timestamps, other text
is a small set of categories. bool is true/false, timestamp a floating
timestamp, json a GeoJSON Point. About 5% of the other values are null (omitted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rows import RowModel
from ..soql import BOOLEAN, FLOATING_TS, NUMBER, POINT, Schema
from .common import DAY_MS, Draws, floating
from .geo import Placement, coordinate_text, place

TYPES = ("text", "bool", "json", "timestamp")
P_NULL = 0.05
_WORDS = ("NORTH", "SOUTH", "PARK", "LAKE", "GARDEN", "UNION", "HARBOR", "CENTRAL", "MAPLE", "RIVER",
          "SUMMIT", "PRAIRIE")
_NUMERIC_SUFFIXES = ("_id", "_count", "_number", "_no", "units", "amount", "total")
_DATE_HINTS = ("date",)


def _text_kind(column: str) -> str:
    """How a text column's values look, from its name."""
    if column in ("latitude", "longitude"):
        return "coordinate"
    if column in ("zip", "zip_code", "community_area", "ward"):
        return column.removesuffix("_code")
    if any(h in column for h in _DATE_HINTS) or column.endswith(("_at", "_on")):
        return "timestamp"
    if column.endswith(_NUMERIC_SUFFIXES) or column.startswith("num_"):
        return "number"
    return "name" if "name" in column else "category"


class DeclaredModel(RowModel):
    """Row model of a dataset known only by its declared columns."""

    key_is_number = True
    first_row = 1_000_001

    def __init__(self, dataset_id: str, primary_key: str, columns: Mapping[str, str], *,
                 name: str | None = None, title: str | None = None) -> None:
        bad = {c: t for c, t in columns.items() if t not in TYPES}
        if bad or primary_key not in columns:
            raise ValueError(f"dataset {dataset_id}: columns must map name -> one of {', '.join(TYPES)} "
                             f"and include the primary key {primary_key!r}; got {dict(columns)}")
        self.dataset_id, self.key = dataset_id, primary_key
        self.name, self.title = name or dataset_id, title or name or dataset_id
        self.types = dict(columns)
        self.looks = {c: _text_kind(c) if t == "text" else t for c, t in columns.items()}
        self.looks[primary_key] = "key"
        kinds = {"key": NUMBER, "coordinate": NUMBER, "community_area": NUMBER, "ward": NUMBER,
                 "number": NUMBER, "timestamp": FLOATING_TS, "bool": BOOLEAN, "json": POINT}
        self.schema = Schema(tuple(columns), {c: kinds[look] for c, look in self.looks.items()
                                              if look in kinds})
        self.has_point = {"latitude", "longitude"} <= set(columns)

    def placement(self, seed: int, row_number: int) -> Placement | None:
        return place(self.name, seed, row_number) if self.has_point else None

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        pl = placement or self.placement(seed, row_number) or place(self.name, seed, row_number)
        row: dict[str, Any] = {}
        for index, column in enumerate(self.schema.columns):
            d = Draws(f"{self.name}-{index}", seed, row_number)
            look = self.looks[column]
            if look == "key":
                row[column] = str(row_number)
            elif look in ("coordinate", "json"):
                if pl.has_coordinates:
                    row[column] = (coordinate_text(pl.lat if column == "latitude" else pl.lon)
                                   if look == "coordinate" else
                                   {"type": "Point", "coordinates": [pl.lon, pl.lat]})
            elif not d.chance(P_NULL):
                row[column] = self._value(look, column, d, pl, event_ms)
        return {k: v for k, v in row.items() if v is not None}

    def _value(self, look: str, column: str, d: Draws, pl: Placement, event_ms: int) -> Any:
        if look == "bool":
            return d.chance(0.3)
        if look == "timestamp":  # the event, or days to weeks before it
            return floating(event_ms - (d.below(30) * DAY_MS if d.chance(0.7) else 0))
        if look == "zip":
            return pl.zip
        if look == "community_area":
            return None if pl.served_area is None else str(pl.served_area)
        if look == "ward":
            return str(d.between(1, 50))
        if look == "number":
            return str(d.between(1, 500))
        if look == "name":
            return f"{d.choice(_WORDS)} {d.choice(_WORDS)} {column.upper().replace('_', ' ')}"
        return f"{column.upper().replace('_', ' ')} {d.between(1, 6)}"

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """One text, number or bool value is re-drawn."""
        d = Draws(f"{self.name}-revise", seed, row_number, version)
        editable = [c for c, look in self.looks.items() if look in ("category", "name", "number", "bool")]
        if editable:
            column = d.choice(editable)
            pl = place(self.name, seed, row_number)
            row[column] = self._value(self.looks[column], column, d, pl, 0)
