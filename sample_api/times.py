"""Timestamp helpers shared by the dataset and the SoQL layer.

Socrata has two timestamp flavours: *fixed* ones (system fields `:created_at`,
`:updated_at`, UTC with a trailing Z) and *floating* ones (columns such as
`date` and `updated_on`, Chicago wall-clock time without a zone). Internally
every instant is an int of epoch milliseconds so arrays stay compact.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

CHICAGO = ZoneInfo("America/Chicago")
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)

_LITERAL = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def to_ms(dt: datetime) -> int:
    """Epoch ms of an aware datetime (naive ones are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH_UTC) // timedelta(milliseconds=1)


def parse_instant(text: str, floating_zone: ZoneInfo | None = None) -> int:
    """Parse a SoQL timestamp literal into epoch ms.

    A literal with `Z` or an offset is absolute. A zoneless one is read in
    `floating_zone` (Chicago for floating columns) or UTC (fixed columns, which
    is how Socrata reads `:updated_at > '2022-04-03T21:50:08'`).
    """
    m = _LITERAL.match(text.strip())
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    micro = int((frac or "0").ljust(6, "0"))
    naive = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro)
    if zone:
        if zone == "Z":
            aware = naive.replace(tzinfo=UTC)
        else:
            aware = datetime.fromisoformat(naive.isoformat() + zone)
    else:
        aware = naive.replace(tzinfo=floating_zone or UTC)
    return to_ms(aware)


@lru_cache(maxsize=65536)
def fixed_text(ms: int) -> str:
    """`2022-04-03T21:50:08.000Z` (cached: thousands of rows share one stamp)."""
    dt = _EPOCH_NAIVE + timedelta(milliseconds=ms)
    return dt.isoformat(timespec="milliseconds") + "Z"


@lru_cache(maxsize=65536)
def chicago_text(ms: int) -> str:
    """The same instant as Chicago wall-clock time, floating (no zone)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=CHICAGO).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds")


def floating_text(naive_ms: int) -> str:
    """A floating timestamp stored as ms since the naive 1970 epoch."""
    return (_EPOCH_NAIVE + timedelta(milliseconds=naive_ms)).isoformat(timespec="milliseconds")


def parse_floating(text: str) -> int:
    """Naive ms of a floating literal (no zone conversion)."""
    return parse_instant(text, floating_zone=ZoneInfo("UTC"))
