"""Pages of Socrata rows as Arrow tables, typed by the declared columns.

dlt writes Arrow tables straight to Parquet and loads them with one binary COPY
(ADBC), skipping its row-by-row normalizer: the load costs about what the fetch
costs. The conversion also renames the system fields and encodes JSON columns.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.items_transform import ItemTransform

from .settings import SYSTEM_FIELDS

_ARROW_TYPES = {
    "text": pa.string(),
    "bool": pa.bool_(),
    "json": pa.string(),  # JSON text; Postgres parses it into the json column
    "timestamp": pa.string(),  # parsed below: Arrow reads ISO 8601 with its zone
}
_SOURCE_NAMES = {column: name for name, column in SYSTEM_FIELDS.items()}


class PageToArrow(ItemTransform[Any, Any]):
    """A resource step: each page (a list of row dicts) becomes one Arrow table.

    Keys a row lacks become nulls (Socrata omits null keys); keys not declared are
    kept as text columns, so a new upstream column still lands.
    """

    def __init__(self, columns: TTableSchemaColumns) -> None:
        super().__init__(lambda item: item)
        self.columns = columns
        self.json_columns = [n for n, c in columns.items() if c["data_type"] == "json"]
        self.timestamp_columns = [n for n, c in columns.items() if c["data_type"] == "timestamp"]
        self.declared = [(_SOURCE_NAMES.get(n, n), n) for n in columns]

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, list) or not item:
            return item
        for row in item:
            for name in self.json_columns:
                if (value := row.get(name)) is not None:
                    row[name] = json.dumps(value)
        extra = sorted({key for row in item for key in row} - {src for src, _ in self.declared})
        fields = [(src, _ARROW_TYPES[self.columns[name]["data_type"]]) for src, name in self.declared]
        fields += [(key, pa.string()) for key in extra]
        schema = pa.schema(fields)
        try:
            table = pa.Table.from_pylist(item, schema=schema)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            # a value that is not text where text is expected (a new column, a flipped type)
            text = [f.name for f in schema if f.type == pa.string()]
            table = pa.Table.from_pylist([_as_text(row, text) for row in item], schema=schema)
        table = table.rename_columns([name for _, name in self.declared] + extra)
        for name in self.timestamp_columns:
            at = table.schema.get_field_index(name)
            table = table.set_column(at, name, pc.cast(table[name], pa.timestamp("us", tz="UTC")))
        return table


def _as_text(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The row with every non-text value of a text column written as text."""
    out = dict(row)
    for name in columns:
        value = out.get(name)
        if isinstance(value, dict | list):
            out[name] = json.dumps(value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None and not isinstance(value, str):
            out[name] = str(value)
    return out
