"""What the OECD source loads and how often it may ask, read from dataflows.yml."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

OECD_URL = "https://sdmx.oecd.org/public/rest"

DATAFLOWS_FILE = Path(__file__).with_name("dataflows.yml")
DATAFLOWS_FILE_ENV = "PULSE_OECD_DATAFLOWS"  # another dataflows.yml, e.g. with one more entry

# OECD's published limit is a few dozen downloads an hour; these are the defaults when
# dataflows.yml does not say.
DEFAULT_REQUESTS_PER_HOUR = 20
DEFAULT_MIN_SECONDS_BETWEEN_REQUESTS = 3.0

_AGENCY = re.compile(r"^[A-Za-z][\w.-]*$")
_FLOW_ID = re.compile(r"^[A-Za-z][\w@.-]*$")
_KEY = re.compile(r"^[\w.+@-]*$")


class DataflowConfigError(ValueError):
    """dataflows.yml says something the source cannot load; the message names the entry."""


@dataclass(frozen=True)
class Dataflow:
    """One SDMX dataflow as declared in dataflows.yml (see the file's header)."""

    name: str  # the raw table, e.g. "population"
    agency: str  # e.g. "OECD.ELS.SAE"
    id: str  # e.g. "DSD_POPULATION@DF_POP_HIST"
    version: str  # e.g. "1.0"; "" = the latest
    key: str  # e.g. ".POP.PS.._T."; "all" = everything
    start_period: str
    indicator: str

    @property
    def flow_ref(self) -> str:
        """The dataflow as the REST data query names it: agency,id,version."""
        return f"{self.agency},{self.id},{self.version}"

    @property
    def query_key(self) -> str:
        return self.key or "all"

    @property
    def urn(self) -> str:
        """The dataflow as SDMX-CSV names it in DATAFLOW / STRUCTURE_ID: agency:id(version)."""
        return f"{self.agency}:{self.id}({self.version})"


@dataclass(frozen=True)
class OecdSettings:
    """dataflows.yml as a whole: the request budget and the declared dataflows."""

    requests_per_hour: int
    min_seconds_between_requests: float
    dataflows: dict[str, Dataflow]
    path: Path


def settings_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(DATAFLOWS_FILE_ENV) or DATAFLOWS_FILE)


def load_settings(path: str | Path | None = None) -> OecdSettings:
    """The budget and dataflows from `path`, $PULSE_OECD_DATAFLOWS or dataflows.yml."""
    path = settings_path(path)
    try:
        return _parsed(path, path.stat().st_mtime)
    except OSError as err:
        raise DataflowConfigError(f"cannot read the OECD dataflows file {path}: {err}") from err


def load_dataflows(path: str | Path | None = None) -> dict[str, Dataflow]:
    """Every declared dataflow by table name (see load_settings for where it is read)."""
    return dict(load_settings(path).dataflows)


@functools.cache  # sources, assets and schedules all ask; read once per file version
def _parsed(path: Path, mtime: float) -> OecdSettings:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DataflowConfigError(f"cannot read the OECD dataflows file {path}: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("dataflows"), dict) or not doc["dataflows"]:
        raise DataflowConfigError(f"{path}: expected `dataflows:` mapping table name -> dataflow entry")
    per_hour = doc.get("requests_per_hour", DEFAULT_REQUESTS_PER_HOUR)
    gap = doc.get("min_seconds_between_requests", DEFAULT_MIN_SECONDS_BETWEEN_REQUESTS)
    if not isinstance(per_hour, int) or isinstance(per_hour, bool) or per_hour < 1:
        raise DataflowConfigError(f"{path}: requests_per_hour must be a whole number >= 1, not {per_hour!r}")
    if not isinstance(gap, int | float) or isinstance(gap, bool) or gap < 0:
        raise DataflowConfigError(f"{path}: min_seconds_between_requests must be a number >= 0, "
                                  f"not {gap!r}")
    flows = {str(name): _dataflow(path, str(name), entry) for name, entry in doc["dataflows"].items()}
    return OecdSettings(per_hour, float(gap), flows, path)


def _dataflow(path: Path, name: str, entry: Any) -> Dataflow:
    where = f"{path}, dataflow {name!r}"
    if not name.isidentifier() or name != name.lower():
        raise DataflowConfigError(f"{where}: the name must be a lower-case identifier (a table name)")
    if not isinstance(entry, dict):
        raise DataflowConfigError(f"{where}: expected a mapping with agency, id, version, key, "
                                  f"start_period, indicator")

    def text(key: str, required: bool = True, pattern: re.Pattern | None = None) -> str:
        value = entry.get(key)
        if value is None or value == "":
            if required:
                raise DataflowConfigError(f"{where}: `{key}` is required")
            return ""
        value = str(value).strip()  # YAML reads 1.0 and 1960 as numbers: quote them, or we do
        if pattern and not pattern.match(value):
            raise DataflowConfigError(f"{where}: `{key}` {value!r} is not a valid SDMX {key}")
        return value

    return Dataflow(
        name=name,
        agency=text("agency", pattern=_AGENCY),
        id=text("id", pattern=_FLOW_ID),
        version=text("version", required=False, pattern=re.compile(r"^[\w.+*~]*$")),
        key=text("key", required=False, pattern=_KEY),
        start_period=text("start_period"),
        indicator=text("indicator", required=False) or name,
    )
