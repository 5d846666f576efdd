"""The crimes dataset (ijzp-q8t2): the `RowModel` over `synth` and its dataset class.

`CrimesDataset(n_rows, seed)` is a `RowDataset` of this model; its rows, stamps
and `:id`s are what they were before the engine served other datasets, which
the pipeline and reliability tests compare against.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import synth
from .models.geo import Placement, place
from .rows import RevisionResult, RowDataset, RowModel, default_batch_rows
from .soql import BOOLEAN, FLOATING_TS, INSTANT_LOCAL, LOCATION, NUMBER, Schema
from .times import CHICAGO, floating_text, parse_floating, parse_instant

__all__ = ["CRIMES", "CrimesDataset", "CrimesModel", "RevisionResult", "default_batch_rows",
           "same_timestamp_dataset"]


class CrimesModel(RowModel):
    """Crimes rows from `synth`: content is a pure function of (seed, id, version).

    Points come from `models.geo.place("crimes", ...)` like every other dataset's,
    so rows_on_edges() and community_area_mismatches() cover crimes too.
    """

    dataset_id = "ijzp-q8t2"
    name = "crimes"
    title = "Crimes - 2001 to Present"
    schema = Schema(synth.COLUMNS, {
        "id": NUMBER, "ward": NUMBER, "community_area": NUMBER, "x_coordinate": NUMBER,
        "y_coordinate": NUMBER, "year": NUMBER, "latitude": NUMBER, "longitude": NUMBER,
        "arrest": BOOLEAN, "domestic": BOOLEAN, "date": FLOATING_TS, "updated_on": INSTANT_LOCAL,
        "location": LOCATION,
    })
    key = "id"
    updated_column = "updated_on"
    first_row = 10_000_001
    start, end = "2001-01-01", "2026-11-01"

    def placement(self, seed: int, row_number: int) -> Placement:
        """The crime's point, from its own draw stream: a revision moves it only when asked
        (`apply_revision(moved_rows=...)`)."""
        return place(self.name, seed, row_number)

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        return synth.base_row(seed, row_number, floating_text(event_ms // 60_000 * 60_000),
                              placement or self.placement(seed, row_number))

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        synth.revise(row, seed, row_number, version)

    def normalise(self, item: Mapping[str, Any]) -> tuple[int, int, int, dict[str, Any]]:
        """(id, created ms, updated ms, row) from a SODA row or a GeoJSON feature."""
        props = item.get("properties", item) if item.get("type") == "Feature" else item
        row = {k: v for k, v in props.items() if v is not None}
        for k in ("location_address", "location_city", "location_state", "location_zip"):
            row.pop(k, None)  # GeoJSON flattens `location` into these
        if "location" not in row and "latitude" in row and "longitude" in row:
            row["location"] = {"latitude": row["latitude"], "longitude": row["longitude"],
                               "human_address": synth.HUMAN_ADDRESS}
        for k in ("date", "updated_on"):  # older exports omit the .000
            if isinstance(row.get(k), str):
                row[k] = floating_text(parse_floating(row[k]))
        updated = row.pop(":updated_at", None)
        created = row.pop(":created_at", None)
        row.pop(":id", None)
        if updated is not None:
            updated_ms = parse_instant(updated)
        elif "updated_on" in row:
            updated_ms = parse_instant(row["updated_on"], floating_zone=CHICAGO)
        else:
            updated_ms = parse_instant(row.get("date", "2001-01-01"), floating_zone=CHICAGO)
        created_ms = parse_instant(created) if created is not None else updated_ms
        row = {c: row[c] for c in synth.COLUMNS if c in row}
        return int(row["id"]), created_ms, updated_ms, row


CRIMES = CrimesModel()


def same_timestamp_dataset(n_rows: int, seed: int = 0, **kwargs: Any) -> CrimesDataset:
    """Every row shares ONE `:updated_at`: paging must not rely on distinct stamps."""
    return CrimesDataset(n_rows, seed=seed, batch_rows=(max(n_rows, 1), max(n_rows, 1)), **kwargs)


class CrimesDataset(RowDataset):
    """Deterministic synthetic Chicago crimes (dataset ijzp-q8t2).

    Initial rows are loaded in bulk batches of `batch_rows` (min, max) rows that
    share one `:updated_at`, as real portal loads do. Old batches were re-published in
    bulk during the last fifth of [start, end); recent ones carry the stamp
    of their load, a few days after their crimes.
    """

    def __init__(
        self,
        n_rows: int,
        seed: int = 0,
        start: str = "2001-01-01",
        end: str = "2026-11-01",
        *,
        batch_rows: tuple[int, int] | None = None,
        first_id: int = 10_000_001,
    ) -> None:
        super().__init__(CRIMES, n_rows, seed, start, end, batch_rows=batch_rows, first_row=first_id)

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], seed: int = 0) -> CrimesDataset:
        """Serve fixed rows (SODA JSON rows or GeoJSON features) instead of synthetic ones.

        Null values are dropped (the portal omits them), GeoJSON's flattened
        `location_*` properties become the `location` object, and missing
        `:created_at`/`:updated_at` are derived from `updated_on` (Chicago time).
        Given `:id` values are replaced: ours sort like `id`, which paging relies on.
        """
        ds = cls(0, seed=seed)
        ds._add_fixed(CRIMES.normalise(row) for row in rows)
        return ds

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 0) -> CrimesDataset:
        """Rows from a SODA JSON array or a GeoJSON FeatureCollection file."""
        data = json.loads(Path(path).read_text())
        rows = data["features"] if isinstance(data, dict) else data
        return cls.from_rows(rows, seed=seed)
