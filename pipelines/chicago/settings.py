"""What the Chicago source loads, read from datasets.yml: one entry per portal dataset."""

from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dlt.common.schema.typing import TTableSchemaColumns

PORTAL_URL = "https://data.cityofchicago.org"

# SODA 2.1 returns at most 50,000 rows a page.
MAX_PAGE_SIZE = 50_000

DATASETS_FILE = Path(__file__).with_name("datasets.yml")
DATASETS_FILE_ENV = "PULSE_CHICAGO_DATASETS"  # another datasets.yml, e.g. with one more entry

# Socrata system fields, renamed because dlt's column names cannot start with ":".
SYSTEM_FIELDS = {
    ":id": "socrata_id",
    ":created_at": "socrata_created_at",
    ":updated_at": "socrata_updated_at",
}
_SYSTEM_COLUMNS: TTableSchemaColumns = {
    "socrata_id": {"data_type": "text", "nullable": True},
    "socrata_created_at": {"data_type": "timestamp", "nullable": True},
    # A row revised while a run pages comes twice in one load: the merge keeps the newest.
    "socrata_updated_at": {"data_type": "timestamp", "nullable": False, "dedup_sort": "desc"},
}
# A Socrata dataset id ("4x4"). It becomes part of request paths (/resource/<id>.json,
# /api/views/<id>.json), so anything else, a path above all, is refused before any request.
DATASET_ID_RULE = "^[a-z0-9]{4}-[a-z0-9]{4}$"
_DATASET_ID = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}")
_TYPES = ("text", "bool", "json", "timestamp")
_FORMATS = ("rows", "geojson")


class DatasetConfigError(ValueError):
    """datasets.yml says something the source cannot load; the message names the entry."""


@dataclass(frozen=True)
class Dataset:
    """One portal dataset as declared in datasets.yml (see the file's header)."""

    name: str  # the raw table, e.g. "crimes"
    id: str  # the Socrata 4x4, e.g. "ijzp-q8t2"
    title: str
    primary_key: str
    cursor: str
    format: str
    schedule: str
    coordinates: tuple[str, str] | None
    columns: TTableSchemaColumns  # declared columns, plus the system fields for rows

    def __post_init__(self) -> None:
        check_dataset_id(self.id, f"dataset {self.name!r}")

    @property
    def is_boundary(self) -> bool:
        return self.format == "geojson"

    @property
    def schedule_cron(self) -> str:
        """The cron schedule; PULSE_SCHEDULE_<NAME> (e.g. PULSE_SCHEDULE_CRIMES) overrides it."""
        return os.environ.get(f"PULSE_SCHEDULE_{self.name.upper()}", self.schedule)


def check_dataset_id(dataset_id: object, where: str) -> None:
    """Refuses an id that is not a Socrata 4x4 (DatasetConfigError naming `where`)."""
    if not isinstance(dataset_id, str) or not _DATASET_ID.fullmatch(dataset_id):
        raise DatasetConfigError(
            f"{where}: id {dataset_id!r} is not a Socrata dataset id: four lower-case letters "
            f"or digits, a hyphen and four more ({DATASET_ID_RULE}), e.g. ijzp-q8t2 from "
            "/resource/ijzp-q8t2.json. Nothing was requested: fix the id in the datasets file.")


def load_datasets(path: str | Path | None = None) -> dict[str, Dataset]:
    """Every declared dataset by table name, from `path`, $PULSE_CHICAGO_DATASETS or datasets.yml."""
    path = Path(path or os.environ.get(DATASETS_FILE_ENV) or DATASETS_FILE)
    try:
        # a copy: dlt may add to the column hints it is given
        return copy.deepcopy(_parsed(path, path.stat().st_mtime))
    except OSError as err:
        raise DatasetConfigError(f"cannot read the Chicago datasets file {path}: {err}") from err


@functools.cache  # every source, asset and schedule asks; the file is read once per version
def _parsed(path: Path, mtime: float) -> dict[str, Dataset]:
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DatasetConfigError(f"cannot read the Chicago datasets file {path}: {err}") from err
    if not isinstance(entries, dict) or not entries:
        raise DatasetConfigError(f"{path}: expected a mapping of table name -> dataset entry")
    return {name: _dataset(path, name, entry) for name, entry in entries.items()}


def _dataset(path: Path, name: str, entry: Any) -> Dataset:
    where = f"{path}, dataset {name!r}"

    def need(key: str) -> Any:
        if not isinstance(entry, dict) or entry.get(key) in (None, ""):
            raise DatasetConfigError(f"{where}: `{key}` is required")
        return entry[key]

    if not name.isidentifier() or name != name.lower():
        raise DatasetConfigError(f"{where}: the name must be a lower-case identifier (a table name)")
    fmt = entry.get("format", "rows") if isinstance(entry, dict) else None
    if fmt not in _FORMATS:
        raise DatasetConfigError(f"{where}: format must be one of {', '.join(_FORMATS)}, not {fmt!r}")
    cursor = entry.get("cursor", ":updated_at" if fmt == "rows" else "rowsUpdatedAt")
    if fmt == "rows" and cursor != ":updated_at":
        raise DatasetConfigError(f"{where}: rows datasets follow :updated_at (keyset paging needs "
                                 f"it), not {cursor!r}")
    check_dataset_id(need("id"), where)
    declared = need("columns")
    key = need("primary_key")
    if not isinstance(declared, dict) or key not in declared:
        raise DatasetConfigError(f"{where}: `columns` must map column -> type and include the "
                                 f"primary key {key!r}")
    columns: TTableSchemaColumns = {}
    for column, kind in declared.items():
        if kind not in _TYPES:
            raise DatasetConfigError(f"{where}, column {column!r}: type must be one of "
                                     f"{', '.join(_TYPES)}, not {kind!r}")
        columns[column] = {"data_type": kind, "nullable": column != key}
    columns[key]["primary_key"] = True
    if fmt == "rows":
        columns.update(_SYSTEM_COLUMNS)
    coordinates = entry.get("coordinates")
    if coordinates is not None and (len(coordinates) != 2 or not set(coordinates) <= set(declared)):
        raise DatasetConfigError(f"{where}: coordinates must name two declared columns "
                                 f"[latitude, longitude], not {coordinates!r}")
    return Dataset(
        name=name, id=need("id"), title=entry.get("title", name), primary_key=key, cursor=cursor,
        format=fmt, schedule=entry.get("schedule", "0 * * * *"),
        coordinates=tuple(coordinates) if coordinates else None, columns=columns,
    )
