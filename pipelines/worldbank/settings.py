"""What the World Bank source loads, read from indicators.yml: one entry per indicator."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BASE_URL = "https://api.worldbank.org/v2"

# Rows per request. The API accepts far more than its default 50; an indicator over every
# economy since 1960 is ~17,000 rows, so 1,000 keeps a full load near 20 requests each.
DEFAULT_PER_PAGE = 1000

INDICATORS_FILE = Path(__file__).with_name("indicators.yml")
INDICATORS_FILE_ENV = "PULSE_WORLDBANK_INDICATORS"  # another indicators.yml, e.g. with one more line

# The id goes into the URL path: letters, digits, dots and underscores only, so an entry can
# never point the request at another endpoint (no "/", ";" or "?").
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]*$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class IndicatorConfigError(ValueError):
    """indicators.yml says something the source cannot load; the message names the entry."""


@dataclass(frozen=True)
class Indicator:
    """One World Bank indicator as declared in indicators.yml (see the file's header)."""

    id: str  # the World Bank code, e.g. "SP.POP.TOTL"
    name: str  # the canonical snake_case name, e.g. "population"
    unit: str  # what a value counts, e.g. "persons"


def indicators_file(path: str | Path | None = None) -> Path:
    """The file the indicators come from: `path`, $PULSE_WORLDBANK_INDICATORS or indicators.yml."""
    return Path(path or os.environ.get(INDICATORS_FILE_ENV) or INDICATORS_FILE)


def load_indicators(path: str | Path | None = None) -> dict[str, Indicator]:
    """Every declared indicator by World Bank id, in file order, validated."""
    path = indicators_file(path)
    try:
        return dict(_parsed(path, path.stat().st_mtime))
    except OSError as err:
        raise IndicatorConfigError(f"cannot read the World Bank indicators file {path}: {err}") from err


@functools.cache  # sources and assets all ask; the file is read once per version
def _parsed(path: Path, mtime: float) -> dict[str, Indicator]:
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise IndicatorConfigError(f"cannot read the World Bank indicators file {path}: {err}") from err
    if not isinstance(entries, list) or not entries:
        raise IndicatorConfigError(f"{path}: expected a list of indicators, one "
                                   "`- {id: ..., name: ..., unit: ...}` per line")
    indicators: dict[str, Indicator] = {}
    names: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        indicator = _indicator(path, number, entry)
        where = f"{path}, entry {number} ({indicator.id})"
        if indicator.id in indicators:
            raise IndicatorConfigError(f"{where}: the id is declared twice")
        if indicator.name in names:
            raise IndicatorConfigError(f"{where}: the name {indicator.name!r} is already used by "
                                       f"{names[indicator.name]}; names must be unique")
        indicators[indicator.id] = indicator
        names[indicator.name] = indicator.id
    return indicators


def _indicator(path: Path, number: int, entry: Any) -> Indicator:
    where = f"{path}, entry {number}"
    if not isinstance(entry, dict):
        raise IndicatorConfigError(f"{where}: expected a mapping {{id: ..., name: ..., unit: ...}}, "
                                   f"not {entry!r}")
    if isinstance(entry.get("id"), str):
        where += f" ({entry['id']})"
    unknown = sorted(set(entry) - {"id", "name", "unit"})
    if unknown:
        raise IndicatorConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                                   "an entry has id, name and unit")
    values = {}
    for key in ("id", "name", "unit"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise IndicatorConfigError(f"{where}: `{key}` is required (a non-empty string)")
        values[key] = value.strip()
    if not _ID.match(values["id"]):
        raise IndicatorConfigError(f"{where}: id {values['id']!r} is not a World Bank indicator "
                                   "code (letters, digits, dots and underscores, e.g. SP.POP.TOTL)")
    if not _NAME.match(values["name"]):
        raise IndicatorConfigError(f"{where}: name {values['name']!r} must be snake_case "
                                   "(lower-case letters, digits and single underscores, e.g. gdp_usd)")
    return Indicator(**values)
