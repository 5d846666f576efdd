"""Strings that break naive loaders, SQL built by string formatting, templating and logs.

Feed them through `CrimesDataset.patch` to check that text arrives in the
warehouse byte for byte and that nothing downstream interprets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HOSTILE_STRINGS: tuple[str, ...] = (
    "O'Hare",
    'say "hello"',
    "'; DROP TABLE raw_chicago.crimes; --",
    "Robert'); DELETE FROM marts.x; --",
    "C:\\temp\\new\\table",  # backslashes, and \n \t if anything unescapes them
    "trailing backslash \\",
    "$$ dollar-quoted $$",
    "%s %d %(name)s {0}",  # printf / format placeholders
    "{{ jinja }} {% if true %}x{% endif %} {# comment #}",
    "line one\nline two\ttabbed\rcarriage return\r\n",
    "🚓 police car, 👩🏽‍⚖️ judge (ZWJ sequence)",
    "שלום עולם مرحبا بالعالم",  # right-to-left scripts
    "\u202etxt.exe",  # right-to-left override
    "x" * 100_000,
)
# PostgreSQL text cannot store U+0000: a loader must reject or strip these, loudly.
NULL_BYTE_STRINGS: tuple[str, ...] = (
    "\x00",
    "before\x00after",
    "trailing null\x00",
)

# Rendered content keys that hostile_patch leaves alone: keys, booleans,
# the location object, and timestamps that must still parse.
_KEEP = frozenset({"id", "arrest", "domestic", "location", "date", "updated_on"})


def hostile_patch(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A row patch that sets every text field to `HOSTILE_STRINGS[i % len]`.

    Changes whichever of these the row has: case_number, block, iucr,
    primary_type, description, location_description, beat, district, ward,
    community_area, fbi_code, x_coordinate, y_coordinate, year, latitude,
    longitude, and any column another patch added. Leaves id, arrest,
    domestic, location, date, updated_on and `:` system keys as they are.
    """
    value = HOSTILE_STRINGS[i % len(HOSTILE_STRINGS)]

    def patch(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v if k in _KEEP or k.startswith(":") else value for k, v in row.items()}

    return patch
