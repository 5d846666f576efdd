"""The Socrata metadata endpoint's body (`/api/views/<id>.json`), shared by every dataset.

Loaders of boundary layers read `rowsUpdatedAt` (epoch seconds) to skip an
unchanged layer, so it must move exactly when the data does.
"""

from __future__ import annotations

from typing import Any

from .soql import (
    BOOLEAN,
    FIXED_TS,
    FLOATING_TS,
    INSTANT_LOCAL,
    LOCATION,
    MULTIPOLYGON,
    NUMBER,
    POINT,
    TEXT,
    Schema,
)

# The views API names types unlike X-SODA2-Types: checkbox, calendar_date.
_VIEW_TYPES = {TEXT: "text", NUMBER: "number", BOOLEAN: "checkbox", FLOATING_TS: "calendar_date",
               INSTANT_LOCAL: "calendar_date", FIXED_TS: "calendar_date", LOCATION: "location",
               POINT: "point", MULTIPOLYGON: "multipolygon"}


def view_metadata(dataset_id: str, title: str, schema: Schema, *, created_ms: int,
                  rows_updated_ms: int, display_type: str = "table") -> dict[str, Any]:
    """A trimmed `/api/views/<id>.json`: identity, the change stamps and the columns."""
    created, updated = created_ms // 1000, rows_updated_ms // 1000
    return {
        "id": dataset_id,
        "name": title,
        "assetType": "dataset",
        "attribution": "City of Chicago",
        "createdAt": created,
        "displayType": display_type,
        "publicationDate": created,
        "publicationStage": "published",
        "rowsUpdatedAt": updated,
        "viewLastModified": updated,
        "viewType": "tabular",
        "columns": [
            {"id": position, "name": column.replace("_", " ").strip().title(), "fieldName": column,
             "dataTypeName": _VIEW_TYPES[schema.kind(column)], "position": position}
            for position, column in enumerate(schema.columns, start=1)
        ],
    }
