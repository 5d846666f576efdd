"""Report files published whole: every version in a folder of its own, swapped in by one rename.

A report is several files (a mart's CSV, Parquet, JSON and meta file; a CSV per
country), and renaming each into place leaves a moment, or after a crash a state, where a
new CSV sits beside an old Parquet. So each version is written into a fresh hidden folder,
`.versions/<name>/.partial-*`, and published by renaming it to its final name and
swapping one symbolic link, `.versions/<name>/current`, to it: one `rename(2)`, atomic on
POSIX file systems. What readers open never changes name: the top level of the reports
folder holds links through `current` (`rpt_x.csv -> .versions/rpt_x/current/rpt_x.csv`;
`countries -> .versions/countries/current`), created once.

    reports/
      rpt_x.csv, rpt_x.parquet, rpt_x.json, rpt_x.meta.json   links into current
      countries                                               a link to current
      .versions/rpt_x/current -> 20250101T060000.000000Z-k3j9  swapped per version
      .versions/rpt_x/20250101T060000.000000Z-k3j9/            one complete version
      .lock                                                   held while publishing

Each version records in `.version.json` when its rows were read (the snapshot's time)
and the relations they were read from. Publishing is serialised by a lock on the
folder: a version read earlier than the one already published is dropped (two runs at
once: the newer rows stay), the version it replaces is kept one round for readers that
resolved it a moment ago, older ones are deleted. `prune_published` removes a report
whose relations are no longer report marts, links and all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pulse.locks import file_lock

log = logging.getLogger(__name__)

VERSIONS = ".versions"
CURRENT = "current"
RECORD = ".version.json"
PARTIAL_PREFIX = ".partial-"
# A partial version this old belongs to an export that died; younger ones may be running.
STALE_PARTIAL_SECONDS = 24 * 3600


class PublicationError(RuntimeError):
    """A report's version could not be published."""


@dataclass(frozen=True)
class Version:
    """One published version of a report: its folder, when its rows were read, and from
    which relations (schema.table)."""

    path: Path
    read_at: dt.datetime
    sources: tuple[str, ...]


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask both
    sets and returns, and a report asset's threads could create files in between)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shareable(path: Path, *, folder: bool = False) -> None:
    """Gives a file or folder made by tempfile (0600, 0700: for its owner only) the mode an
    ordinary open() or mkdir() would have: reports are for other users to read."""
    os.chmod(path, (0o777 if folder else 0o666) & ~umask())


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def directory_lock(out_dir: Path) -> Iterator[None]:
    """Exclusive, across processes, while versions are swapped in or the index is rebuilt."""
    with file_lock(out_dir / ".lock"):
        yield


def versions_folder(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / VERSIONS / name


@contextlib.contextmanager
def staged_version(out_dir: Path, name: str) -> Iterator[Path]:
    """A fresh hidden folder to write `name`'s next version into; deleted unless published."""
    folder = versions_folder(out_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=PARTIAL_PREFIX))
    shareable(staging, folder=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already once published


def current_version(out_dir: Path, name: str) -> Version | None:
    """The version of `name` readers see now, or None before its first publication."""
    current = versions_folder(out_dir, name) / CURRENT
    if not current.is_dir():
        return None
    path = current.resolve()
    try:
        record = json.loads((path / RECORD).read_text(encoding="utf-8"))
        return Version(path, dt.datetime.fromisoformat(record["read_at"]),
                       tuple(record["sources"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        # Without its record any new version may replace it; pruning keeps it.
        log.warning("reports: %s has no readable %s (%s); the next export replaces it",
                    path, RECORD, err)
        return Version(path, dt.datetime.min.replace(tzinfo=dt.UTC), ())


def publish(out_dir: Path, name: str, staging: Path, *, read_at: dt.datetime,
            sources: Sequence[str], links: Sequence[str] | None = None,
            carry_over: Callable[[Version | None, Path], None] | None = None) -> Version:
    """Makes `staging` (from `staged_version`) the version of `name` readers see, in one
    rename; returns the version published, which is the one already there when that
    was read later than `read_at` (ours is then dropped).

    `links`: the files of the version linked from the top of `out_dir` under their own
    names; None links the folder itself as `out_dir/<name>`. `carry_over(current,
    staging)` runs under the lock just before the swap, e.g. to keep files of the
    current version that this one did not rewrite.
    """
    read_at = read_at.astimezone(dt.UTC)
    _write_record(staging, read_at, sources)
    folder = versions_folder(out_dir, name)
    with directory_lock(out_dir):
        current = current_version(out_dir, name)
        if current is not None and current.read_at > read_at:
            log.info("reports: %s already holds rows read at %s, newer than these (%s); kept",
                     name, current.read_at.isoformat(), read_at.isoformat())
            return current
        if carry_over is not None:
            carry_over(current, staging)
        final = folder / f"{read_at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"
        os.rename(staging, final)
        _swap_link(folder / CURRENT, final.name)
        _fsync_folder(folder)
        _link_top_level(out_dir, name, links)
        _delete_old_versions(folder, keep={final.name, *([current.path.name] if current else [])})
    return Version(final, read_at, tuple(sources))


def _write_record(staging: Path, read_at: dt.datetime, sources: Sequence[str]) -> None:
    (staging / RECORD).write_text(json.dumps({"read_at": read_at.isoformat(),
                                              "sources": list(sources)}) + "\n",
                                  encoding="utf-8")
    for path in staging.iterdir():  # the data is on disk before any reader can reach it
        fsync(path)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs a folder
        fsync(folder)


def _swap_link(link: Path, target: str) -> None:
    """`link` pointing at `target`, replaced in one rename (a new link, renamed over)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.link")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _link_top_level(out_dir: Path, name: str, links: Sequence[str] | None) -> None:
    """The names readers open, as links through `current`; made once, and over the
    files of reports exported before versions existed."""
    through = Path(VERSIONS) / name / CURRENT
    wanted = {name: through} if links is None else {f: through / f for f in links}
    for entry, target in wanted.items():
        path = Path(out_dir) / entry
        if path.is_symlink() and os.readlink(path) == str(target):
            continue
        if path.is_dir() and not path.is_symlink():  # a folder of the old layout
            legacy = versions_folder(out_dir, name) / f".legacy-{secrets.token_hex(4)}"
            os.rename(path, legacy)
        _swap_link(path, str(target))


def _delete_old_versions(folder: Path, keep: Collection[str]) -> None:
    now = time.time()
    for entry in folder.iterdir():
        if entry.name == CURRENT or entry.name in keep:
            continue
        if entry.name.startswith(PARTIAL_PREFIX):  # another export may be writing it
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime < STALE_PARTIAL_SECONDS:
                    continue
        _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_published(out_dir: Path, relations: Collection[str]) -> list[str]:
    """Removes every published report read from a relation not in `relations` (the
    report marts that exist now): its versions and its links at the top of `out_dir`,
    so it also leaves the index. Returns their names."""
    versions = Path(out_dir) / VERSIONS
    if not versions.is_dir():
        return []
    removed = []
    with directory_lock(out_dir):
        for folder in sorted(p for p in versions.iterdir() if p.is_dir()):
            version = current_version(out_dir, folder.name)
            if version is None or not version.sources or set(version.sources) <= set(relations):
                continue  # never published (maybe being written), unknown, or still a report
            _unlink_top_level(out_dir, folder.name)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    for name in removed:
        log.info("reports: %s removed: it was read from a relation that is no longer a "
                 "report mart", name)
    return removed


def _unlink_top_level(out_dir: Path, name: str) -> None:
    prefix = str(Path(VERSIONS) / name / CURRENT)
    for entry in Path(out_dir).iterdir():
        if entry.is_symlink():
            target = os.readlink(entry)
            if target == prefix or target.startswith(prefix + os.sep):
                entry.unlink(missing_ok=True)
