"""Pages of Socrata rows as Arrow tables, typed by the declared columns; bad rows set aside.

dlt writes Arrow tables straight to Parquet and loads them with one binary COPY
(ADBC), skipping its row-by-row normalizer: the load costs about what the fetch
costs. The conversion also renames the system fields and encodes JSON columns.

A row that cannot be loaded as declared is never allowed to fail the load (one bad
row would block every later run) and is never dropped silently: `PageToArrow` notes
why, and `SplitRejects` sends it to the `<table>_rejects` table, verbatim as JSON.
What cannot be loaded: no primary key, no `:updated_at`, a value not of its column's
type, a null byte, a lone UTF-16 surrogate (not Unicode, so neither Arrow nor
PostgreSQL takes it), a json value nested deeper than orjson's 254 levels, and a new
key that cannot name a column (blank, or dlt would give it another column's name).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.items_transform import ItemTransform

from .cursor import CURSOR, future_reason, horizon
from .settings import SYSTEM_FIELDS

_ARROW_TYPES = {"text": pa.string(), "bool": pa.bool_(), "json": pa.string(), "timestamp": pa.string()}
_SOURCE_NAMES = {column: name for name, column in SYSTEM_FIELDS.items()}
_NAMING = NamingConvention()  # dlt's default, which the Chicago pipelines use

# Columns PageToArrow adds to a page that holds rejected rows; SplitRejects removes them.
REASON, RECORD = "_reject_reason", "_reject_record"
# Added when rows were stamped in the future: their stamps as sent, for the rejects table
# (PageToArrow nulls them in the cursor column, so that dlt's incremental passes them by).
SENT_STAMP = "_reject_sent_updated_at"

# `<table>_rejects` also keeps the row's primary key (as text, NULL when it had none).
REJECT_COLUMNS: TTableSchemaColumns = {
    "socrata_id": {"data_type": "text", "nullable": True},
    "socrata_updated_at": {"data_type": "timestamp", "nullable": True},
    "reject_reason": {"data_type": "text", "nullable": False},
    "record": {"data_type": "text", "nullable": False},  # text: jsonb refuses \u0000
}


class PageToArrow(ItemTransform[Any, Any]):
    """A resource step: each page (a list of row dicts) becomes one Arrow table.

    Built column by column, which is about twice as fast as row by row. Keys a row
    lacks become nulls (Socrata omits null keys); keys not declared are kept as text
    columns, so a new upstream column still lands. Values of another type than
    declared are coerced where that is lossless (a number in a text column becomes
    its text, "true" in a boolean column becomes true); a row that cannot be loaded
    (see the module's docstring) gets a reason and stays in the page for
    SplitRejects. A row without `:updated_at`, or stamped beyond now +
    `future_tolerance_seconds` (cursor.py), gets a null cursor, which dlt's
    incremental lets through without moving the cursor (`on_cursor_value_missing`).
    """

    def __init__(self, columns: TTableSchemaColumns, primary_key: str = "id",
                 future_tolerance_seconds: float | None = None) -> None:
        super().__init__(lambda item: item)
        self.future_tolerance_seconds = future_tolerance_seconds
        self.types = {name: column["data_type"] for name, column in columns.items()}
        self.declared = [(_SOURCE_NAMES.get(name, name), name) for name in columns]
        self.source_keys = {key for key, _ in self.declared}
        self.primary_key = primary_key

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, list) or not item:
            return item
        reasons: dict[int, str] = {}
        extra = self._extra_keys(item, reasons)
        columns = [(key, name, self.types[name]) for key, name in self.declared]
        columns += [(key, key, "text") for key in extra]
        arrays = [_array([row.get(key) for row in item], kind, name, reasons)
                  for key, name, kind in columns]
        for i, row in enumerate(item):
            key = row.get(self.primary_key)
            if key is None or (isinstance(key, str) and not key.strip()):
                reasons[i] = f"missing {self.primary_key}"  # cannot be merged on its key
        names = [name for _, name, _ in columns]
        sent_stamps = None
        if CURSOR in self.types:
            at = names.index(CURSOR)
            _reject_missing_cursor(arrays[at], reasons)
            if self.future_tolerance_seconds is not None:
                arrays[at], sent_stamps = self._hold_back_future(arrays[at], reasons)
        table = pa.Table.from_arrays(arrays, names=names)
        if sent_stamps is not None:
            table = table.append_column(SENT_STAMP, sent_stamps)
        if reasons:
            ordered = [reasons.get(i) for i in range(len(item))]
            records = [None if r is None else _record(row)
                       for r, row in zip(ordered, item, strict=True)]
            table = table.append_column(REASON, pa.array(ordered, pa.string()))
            table = table.append_column(RECORD, pa.array(records, pa.string()))
        return table

    def _hold_back_future(self, stamps: pa.Array, reasons: dict[int, str]
                          ) -> tuple[pa.Array, pa.Array | None]:
        """The cursor column with stamps beyond now + the tolerance nulled (their rows
        rejected), and the stamps as sent when there were any."""
        assert self.future_tolerance_seconds is not None
        limit = pa.scalar(horizon(self.future_tolerance_seconds), stamps.type)
        future = pc.fill_null(pc.greater(stamps, limit), False)
        if not pc.any(future).as_py():
            return stamps, None
        for i in pc.indices_nonzero(future).to_pylist():
            # this reason wins: it is why the row comes back on every run
            reasons[i] = future_reason(stamps[i].as_py(), self.future_tolerance_seconds)
        return pc.if_else(future, pa.nulls(len(stamps), stamps.type), stamps), stamps

    def _extra_keys(self, item: list[dict[str, Any]], reasons: dict[int, str]) -> list[str]:
        """Undeclared keys, sorted, each to become a text column. A key that cannot name a
        column (dlt would fail the whole load on it) is left out, and the rows carrying
        it are rejected."""
        extra = sorted(set().union(*item) - self.source_keys)
        if not extra:
            return []
        taken = {name for _, name in self.declared}
        unnamable: dict[str, str] = {}
        for key in extra:
            problem = _column_name_problem(key, taken)
            if problem:
                unnamable[key] = problem
        for i, row in enumerate(item):
            for key in unnamable.keys() & row.keys():
                reasons.setdefault(i, unnamable[key])
        return [key for key in extra if key not in unnamable]


class SplitRejects(ItemTransform[Any, Any]):
    """Sends the rows PageToArrow rejected to `<table>_rejects`; counts each path.

    Runs after dlt's incremental step (affinity 1), so the cursor covers rejected
    rows as well: they are recorded, not lost, and are not fetched again.
    """

    placement_affinity: ClassVar[float] = 1.5

    def __init__(self, table_name: str, primary_key: str = "id") -> None:
        super().__init__(lambda item: item)
        self.rejects_table = f"{table_name}_rejects"
        self.primary_key = primary_key
        self.custom_metrics.update(rows_loaded=0, rows_rejected=0, duplicate_keys_merged=0)
        self._hints = dlt.mark.make_hints(
            table_name=self.rejects_table, write_disposition="append", primary_key=[],
            merge_key=[], columns={primary_key: {"data_type": "text", "nullable": True},
                                   **REJECT_COLUMNS},
        )

    def __call__(self, item: Any, meta: Any = None) -> Iterator[Any]:
        if not isinstance(item, pa.Table):
            yield item
            return
        clean = item
        if REASON in item.column_names:
            ok = pc.is_null(item[REASON])
            clean = item.filter(ok).drop_columns(
                [c for c in (REASON, RECORD, SENT_STAMP) if c in item.column_names])
            rejects = item.filter(pc.invert(ok))
            self.custom_metrics["rows_rejected"] += rejects.num_rows
            yield dlt.mark.with_hints(_reject_table(rejects, self.primary_key), self._hints,
                                      create_table_variant=True)
        # The same key twice in one page: the merge keeps the newest copy (dedup_sort).
        keys = clean[self.primary_key]
        self.custom_metrics["duplicate_keys_merged"] += len(keys) - pc.count_distinct(keys).as_py()
        self.custom_metrics["rows_loaded"] += clean.num_rows
        if clean.num_rows:
            yield clean


def _reject_table(rejects: pa.Table, primary_key: str) -> pa.Table:
    if SENT_STAMP in rejects.column_names:  # the stamps as sent, not the nulled cursor
        rejects = rejects.drop_columns([CURSOR]).rename_columns(
            [CURSOR if c == SENT_STAMP else c for c in rejects.column_names if c != CURSOR])
    names = [n for n in (primary_key, "socrata_id", CURSOR) if n in rejects.column_names]
    return rejects.select([*names, REASON, RECORD]).rename_columns(
        [*names, "reject_reason", "record"])


def _column_name_problem(key: str, taken: set[str]) -> str | None:
    """Why `key` cannot become a column of its own, or None (then its name is `taken`)."""
    if _lone_surrogate(key) is not None:
        return f"a column name that is not valid Unicode: {_show(key)}"
    try:  # the name dlt gives the column in PostgreSQL
        column = _NAMING.normalize_identifier(key)
    except ValueError:
        return f"a column name that is blank: {_show(key)}"
    if column in taken:  # "Block" beside "block", or a key named like socrata_updated_at
        return f"a column name {_show(key)} that becomes {column!r}, the name of another column"
    taken.add(column)
    return None


def _reject_missing_cursor(stamps: pa.Array, reasons: dict[int, str]) -> None:
    # Without its stamp a row has no place in the (:updated_at, :id) order the load follows.
    if stamps.null_count:
        for i in pc.indices_nonzero(pc.is_null(stamps)).to_pylist():
            reasons.setdefault(i, "missing :updated_at, the cursor the load follows")


def _array(values: list[Any], kind: str, name: str, reasons: dict[int, str]) -> pa.Array:
    """The column as Arrow; rows whose value cannot be stored get a reason (first one wins)."""
    if kind == "json":  # JSON text; Postgres parses it into the json column
        values = _json_texts(values, name, reasons)
    try:
        array = pa.array(values, type=_ARROW_TYPES[kind])
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        # value by value: coerce what can be, note why the rest cannot be stored
        array = pa.array([_storable(value, i, kind, name, reasons) for i, value in enumerate(values)],
                         type=_ARROW_TYPES[kind])
    if kind in ("text", "json"):
        _reject_null_bytes(array, kind, name, reasons)
    if kind == "timestamp":  # Arrow parses ISO 8601 with its zone: "...T21:50:08.000Z"
        try:
            array = pc.cast(array, pa.timestamp("us", tz="UTC"))
        except pa.ArrowInvalid:
            array = pa.array([_timestamp(v, i, name, reasons) for i, v in enumerate(array.to_pylist())],
                             pa.timestamp("us", tz="UTC"))
    return array


def _reject_null_bytes(array: pa.Array, kind: str, name: str, reasons: dict[int, str]) -> None:
    # PostgreSQL text cannot hold NUL, nor jsonb the escape \u0000: the COPY would fail.
    pattern = "\\u0000" if kind == "json" else "\x00"
    hits = pc.match_substring(array, pattern)
    if pc.any(hits).as_py():
        for i in pc.indices_nonzero(hits.fill_null(False)).to_pylist():
            reasons.setdefault(i, f"{name}: contains a null byte, which PostgreSQL cannot store")


def _storable(value: Any, i: int, kind: str, name: str, reasons: dict[int, str]) -> Any:
    """`value` coerced to `kind` and storable, or None with the reason noted for row `i`."""
    try:
        value = _COERCE[kind](value)
    except orjson.JSONEncodeError as err:  # a list or object in a text column
        reasons.setdefault(i, f"{name}: {_json_problem(err)}")
        return None
    except (TypeError, ValueError):
        reasons.setdefault(i, f"{name}: {_show(value)} is not a {kind}")
        return None
    if isinstance(value, str) and (at := _lone_surrogate(value)) is not None:
        reasons.setdefault(i, f"{name}: not valid Unicode (a lone surrogate, "
                              f"U+{ord(value[at]):04X}, at character {at})")
        return None
    return value


def _lone_surrogate(text: str) -> int | None:
    """Where `text` holds half a UTF-16 pair (JSON's "\\ud800" decodes to one), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def _json_texts(values: list[Any], name: str, reasons: dict[int, str]) -> list[str | None]:
    try:
        return [None if v is None else orjson.dumps(v).decode() for v in values]
    except orjson.JSONEncodeError:
        return [_json_text(v, i, name, reasons) for i, v in enumerate(values)]


def _json_text(value: Any, i: int, name: str, reasons: dict[int, str]) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as err:
        if "64-bit" in str(err):  # exact in JSON text and in PostgreSQL json: keep it
            try:
                return json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (RecursionError, ValueError) as also:
                reasons.setdefault(i, f"{name}: cannot be written as JSON: {also}")
                return None
        reasons.setdefault(i, f"{name}: {_json_problem(err)}")
        return None


def _json_problem(err: orjson.JSONEncodeError) -> str:
    """What orjson refused, in words an analyst reading the rejects table can act on."""
    message = str(err)
    if "Recursion" in message:
        return "nested more than 254 levels deep, past what orjson (and most JSON tools) read"
    if "surrogates" in message:
        return "not valid Unicode (a lone surrogate in a JSON string)"
    return f"cannot be written as JSON: {message}"


def _record(row: dict[str, Any]) -> str:
    """The row as sent, as JSON text, whatever it holds: the rejects table must take it."""
    try:
        return orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        pass
    try:  # deep nesting, surrogates: the standard library writes those as ASCII escapes
        return json.dumps(row, ensure_ascii=True, default=str, separators=(",", ":"))
    except (RecursionError, ValueError):
        return repr(row)[:100_000]  # repr escapes surrogates too


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _as_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(value)


def _timestamp(value: str | None, i: int, name: str, reasons: dict[int, str]) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        reasons.setdefault(i, f"{name}: {_show(value)} is not a timestamp")
        return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_COERCE = {"text": _as_text, "bool": _as_bool, "json": lambda v: v, "timestamp": _as_text}
