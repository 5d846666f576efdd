"""The collector's settings: write keys, where the spool lives, its limits.

Write keys are secrets: `PULSE_COLLECTOR_WRITE_KEYS` (`key=source,key=source`) or, when
that is unset, the `[collector.write_keys]` table of the untracked dlt secrets file
(`.dlt/secrets.toml`, `key = "source"`). They are never logged: a request is known by
its source name.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pulse.warehouse import PROJECT_ROOT, data_dir

SECRETS_FILE = PROJECT_ROOT / ".dlt" / "secrets.toml"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class CollectorSettings:
    write_keys: dict[str, str]  # write key -> source name
    spool_dir: Path
    spool_cap_bytes: int = 1 << 30
    segment_bytes: int = 8 << 20
    seal_after_seconds: float = 1.0
    min_free_bytes: int = 64 << 20
    retry_after_seconds: int = 5


def parse_write_keys(text: str) -> dict[str, str]:
    keys = {}
    for number, pair in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
        key, sep, source = pair.partition("=")
        if not sep or not key.strip() or not source.strip():
            raise SettingsError(f"PULSE_COLLECTOR_WRITE_KEYS: pair {number} is not key=source")
        keys[key.strip()] = source.strip()
    return keys


def _keys_from_secrets(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{path}: not valid TOML ({err})") from None
    table = doc.get("collector", {}).get("write_keys", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise SettingsError(f"{path}: [collector.write_keys] must map each key to a source name")
    return dict(table)


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a whole number") from None


def spool_dir() -> Path:
    """`PULSE_COLLECTOR_SPOOL`, else `collector-spool/` in the warehouse folder: the
    collector writes there and the drain (pipelines/events) reads there."""
    spool = os.environ.get("PULSE_COLLECTOR_SPOOL")
    return Path(spool) if spool else data_dir() / "collector-spool"


def load_settings(secrets_file: Path = SECRETS_FILE) -> CollectorSettings:
    env = os.environ.get("PULSE_COLLECTOR_WRITE_KEYS")
    keys = parse_write_keys(env) if env is not None else _keys_from_secrets(secrets_file)
    if not keys:
        raise SettingsError("no write keys: set PULSE_COLLECTOR_WRITE_KEYS=key=source[,...] "
                            f"or a [collector.write_keys] table in {secrets_file}")
    return CollectorSettings(
        write_keys=keys,
        spool_dir=spool_dir(),
        spool_cap_bytes=_int_env("PULSE_COLLECTOR_SPOOL_CAP_BYTES", 1 << 30),
        min_free_bytes=_int_env("PULSE_COLLECTOR_MIN_FREE_BYTES", 64 << 20),
    )
