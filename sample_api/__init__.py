"""A local SODA 2.1 (Socrata) API serving deterministic synthetic Chicago datasets.

Pulse's demo and tests point the chicago dlt source at this server instead of
data.cityofchicago.org: same URL shape, SoQL subset, row JSON and error bodies,
and the metadata endpoint (`/api/views/<id>.json`).

- `RowDataset` is the engine: compact per-row state, rows rendered by a `RowModel`
  (`crimes.CrimesModel`, `models.*`, or `models.DeclaredModel` from a declaration).
- `CrimesDataset` serves ijzp-q8t2, as it always has.
- `layers.BoundaryDataset` serves a boundary layer (`.geojson` and `.json`).
- `chicago_portal()` builds all seven datasets of pipelines/chicago/datasets.yml.
"""

from .crimes import CrimesDataset, RevisionResult, same_timestamp_dataset
from .hostile import HOSTILE_STRINGS, NULL_BYTE_STRINGS, hostile_patch
from .layers import BoundaryDataset
from .portal import TABLES, chicago_portal
from .rows import RowDataset, RowModel
from .server import DATASET_ID, FAULT_KINDS, Faults, RequestRecord, SampleApi, serve

__all__ = [
    "DATASET_ID",
    "FAULT_KINDS",
    "HOSTILE_STRINGS",
    "NULL_BYTE_STRINGS",
    "TABLES",
    "BoundaryDataset",
    "CrimesDataset",
    "Faults",
    "RequestRecord",
    "RevisionResult",
    "RowDataset",
    "RowModel",
    "SampleApi",
    "chicago_portal",
    "hostile_patch",
    "same_timestamp_dataset",
    "serve",
]
