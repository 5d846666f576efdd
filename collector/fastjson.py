"""JSON at the collector's rate: orjson where it gives the same answer as the standard
library, the standard library where it would not.

orjson parses and writes several times faster, but: it turns integers past 64 bits into
floats when parsing (a 19-digit id would change), refuses to write them, and refuses lone
UTF-16 surrogates. A body with a run of 19 or more digits, or one orjson cannot parse,
goes to the standard parser, which keeps big integers exact and says where a body breaks;
NaN, Infinity and numbers past a double's range (1e400), which it would accept, are
refused: orjson would write them as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

LONG_DIGITS = 19  # 2**63 has 19 digits: a shorter run of digits is an exact 64-bit integer


def has_long_digit_run(data: bytes) -> bool:
    """Whether `data` holds LONG_DIGITS or more digits in a row: found with numpy, about a
    hundred times faster than a regular expression at the collector's body sizes."""
    digits = np.frombuffer(data, dtype=np.uint8)
    digits = (digits >= 48) & (digits <= 57)
    if digits.sum() < LONG_DIGITS:
        return False
    breaks = np.flatnonzero(np.concatenate(([True], ~digits, [True])))
    return bool((np.diff(breaks) - 1).max() >= LONG_DIGITS)


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON (use null or a string)")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # orjson would write it as null: refuse it instead
        raise ValueError(f"the number {text[:40]} is out of range (a double's is about 1.8e308)")
    return value


def loads(data: bytes) -> Any:
    if not has_long_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard parser decides, and says where
    return json.loads(data.decode("utf-8"), parse_constant=_not_json, parse_float=_finite)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. UnicodeEncodeError for a lone surrogate (not text)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer past 64 bits, or a surrogate
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
