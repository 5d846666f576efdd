"""The local Chicago portal a scenario serves: every dataset of datasets.yml, by table name.

Scenarios load all seven datasets because dbt's enriched models need every raw table
(and the geocoder's lookup table, which needs both boundary layers). A revision of a
rows dataset adds and re-versions rows under one new `:updated_at`; a revision of a
boundary layer publishes every feature again with another `shape_len` (the geometry
stays, so points keep their areas) and a later `rowsUpdatedAt`, so the next load
replaces the layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reliability import verify
from sample_api import chicago_portal

ROW_TABLES = verify.ROW_TABLES
BOUNDARY_TABLES = verify.BOUNDARY_TABLES
OTHER_ROW_TABLES = tuple(name for name in ROW_TABLES if name != "crimes")

# key -> every declared column, normalised (verify.raw_content's shape)
Content = dict[str, tuple]


class Portal:
    """`chicago_portal()` with `rows` crimes and `other_rows` rows of each other rows dataset
    (or explicit counts by table name)."""

    def __init__(self, rows: int, other_rows: int, seed: int,
                 counts: Mapping[str, int] | None = None) -> None:
        self.counts = {"crimes": rows, **dict.fromkeys(OTHER_ROW_TABLES, other_rows), **(counts or {})}
        self.served = chicago_portal(rows=self.counts, seed=seed)
        self.tables = verify.by_table(self.served)

    def __getitem__(self, name: str) -> Any:
        return self.tables[name]

    @property
    def crimes(self) -> Any:
        return self.tables["crimes"]

    def revise(self, name: str, new_rows: int, updated_rows: int, seed: int) -> tuple[Any, Any]:
        """Applies a revision to table `name`; returns its truth before and after (versions of
        a rows dataset, the content of a boundary layer)."""
        if name in BOUNDARY_TABLES:
            before = self.layer_content(name)
            self.revise_layer(name, seed)
            return before, self.layer_content(name)
        dataset = self.tables[name]
        before = verify.truth_versions(dataset)
        dataset.apply_revision(new_rows=new_rows, updated_rows=updated_rows, seed=seed)
        return before, verify.truth_versions(dataset)

    def revise_scaled(self, name: str, new_rows: int, updated_rows: int, seed: int) -> tuple[Any, Any]:
        """`revise`, the crimes-sized revision scaled to table `name`'s rows."""
        share = self.counts.get(name, 0) / max(1, self.counts["crimes"])
        return self.revise(name, max(1, round(new_rows * share)), max(1, round(updated_rows * share)), seed)

    def revise_layer(self, name: str, seed: int) -> None:
        layer = self.tables[name]
        features = layer.features()
        for i, feature in enumerate(features):
            feature["properties"]["shape_len"] = f"{seed % 100_000}.{i}"
        layer.replace_features(features)

    def layer_content(self, name: str) -> Content:
        return verify.truth_content(self.tables[name].truth(), name)

    def rows(self) -> int:
        """Rows of every rows dataset, as served now."""
        return sum(len(self.tables[name]) for name in ROW_TABLES)
