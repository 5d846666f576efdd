"""The crimes dataset: compact per-row state, rows rendered on demand.

Per row we keep only id, version and two epoch-ms stamps in `array` columns
(~30 bytes/row, so 1M rows is ~30 MB) plus one index sorted by
(`:updated_at`, id). Row content is a pure function of (seed, id, version), so
an incremental query (`:updated_at > X order by :updated_at,:id limit/offset`)
is two bisects and a slice, and only the served page is ever materialised.

For data-quality tests, `patch` rewrites chosen rows as served and `duplicate`
serves a row twice; both are keyed by numeric id and never touch the system
fields or the index, so paging keeps working whatever a patch does to a row.
"""

from __future__ import annotations

import json
import random
import threading
from array import array
from base64 import b32encode
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import synth
from .soql import (
    BOOLEAN,
    FLOATING_TS,
    NUMBER,
    SYSTEM_COLUMNS,
    And,
    Cmp,
    Expr,
    Or,
    Query,
    compare,
)
from .times import (
    CHICAGO,
    chicago_text,
    fixed_text,
    floating_text,
    parse_floating,
    parse_instant,
    to_ms,
)

DAY_MS = 86_400_000
# RFC 4648 base32 digits mapped onto an ASCII-sorted alphabet, so `:id` sorts like `id`.
_SID_TABLE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"23456789abcdefghijkmnpqrstuvwxyz")
_SID_STEP = 104_729  # spreads consecutive ids over many digits so :ids look random
_ID_KEYS = frozenset({":id", "id"})
_UPDATED_KEYS = frozenset({":updated_at", "updated_on"})
_ALL = SYSTEM_COLUMNS + synth.COLUMNS  # `$select=:*,*`

RowPatch = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RevisionResult:
    new_ids: list[str]
    updated_ids: list[str]
    updated_at: datetime  # the one `:updated_at` every touched row now carries


def _frac(row_id: int) -> float:
    """A cheap deterministic jitter in [0, 1) (Knuth multiplicative hash)."""
    return ((row_id * 2654435761) % 4294967296) / 4294967296


def default_batch_rows(n_rows: int) -> tuple[int, int]:
    """1000-5000 rows per load like the portal; small datasets get ~20-100 loads
    instead, so paging in tests still crosses many distinct stamps."""
    if n_rows >= 100_000:
        return 1000, 5000
    return max(1, n_rows // 100), max(1, n_rows // 20)


def same_timestamp_dataset(n_rows: int, seed: int = 0, **kwargs: Any) -> CrimesDataset:
    """Every row shares ONE `:updated_at`: paging must not rely on distinct stamps."""
    return CrimesDataset(n_rows, seed=seed, batch_rows=(max(n_rows, 1), max(n_rows, 1)), **kwargs)


class CrimesDataset:
    """Deterministic synthetic Chicago crimes (dataset ijzp-q8t2).

    Initial rows are loaded in bulk batches of `batch_rows` (min, max) rows that
    share one `:updated_at`, as real portal loads do. Old batches were re-published in
    bulk during the last fifth of [start, end); recent ones carry the stamp
    of their load, a few days after their crimes.
    """

    def __init__(
        self,
        n_rows: int,
        seed: int = 0,
        start: str = "2001-01-01",
        end: str = "2026-11-01",
        *,
        batch_rows: tuple[int, int] | None = None,
        first_id: int = 10_000_001,
    ) -> None:
        if batch_rows is None:
            batch_rows = default_batch_rows(n_rows)
        if n_rows < 0 or batch_rows[0] < 1 or batch_rows[0] > batch_rows[1]:
            raise ValueError("n_rows must be >= 0 and batch_rows a (min, max) with min >= 1")
        self.seed = seed
        self._lock = threading.RLock()
        self._fixed: dict[int, dict[str, Any]] = {}  # from_rows content, by id
        self._patches: dict[int, tuple[RowPatch, ...]] = {}  # by id, applied in order
        self._duplicates: set[int] = set()  # ids served twice
        self._revisions = 0
        self._first_id, self._n_initial = first_id, n_rows
        self._start_ms, self._end_ms = parse_floating(start), parse_floating(end)
        if self._end_ms <= self._start_ms:
            raise ValueError("end must be after start")
        self._step = (self._end_ms - self._start_ms) / max(n_rows, 1)
        self._salt = random.Random(f"sid-{seed}").randrange(2**50, 2**55)

        self._ids = array("q", range(first_id, first_id + n_rows))
        self._ver = array("I", bytes(4 * n_rows))
        self._created = array("q")
        self._updated = array("q")
        self._by_updated = array("q")
        self._load_batches(n_rows, batch_rows)

    def _load_batches(self, n: int, batch_rows: tuple[int, int]) -> None:
        r = random.Random(f"batches-{self.seed}")
        published_from = self._utc(self._start_ms + 0.8 * (self._end_ms - self._start_ms))
        end_utc = self._utc(self._end_ms)
        batches: list[tuple[int, int, int]] = []  # (stamp, first position, end position)
        used: set[int] = set()
        a = 0
        while a < n:
            b = min(n, a + r.randint(*batch_rows))
            # Stamps are whole seconds (.000), like the portal's.
            natural = self._utc(self._start_ms + b * self._step) + r.randrange(DAY_MS, 8 * DAY_MS)
            stamp = natural if natural >= published_from else r.randrange(published_from, end_utc)
            stamp -= stamp % 1000
            while stamp in used:  # one stamp per batch keeps batches distinguishable
                stamp += 1000
            used.add(stamp)
            batches.append((stamp, a, b))
            a = b
        # Stamps are distinct and each batch is an id range, so sorting batches
        # by stamp yields the (:updated_at, id) order without a per-row sort.
        for _, a, b in sorted(batches):
            self._by_updated.extend(range(a, b))
        for stamp, a, b in batches:  # initial rows were created by their first load
            self._created.extend(array("q", [stamp]) * (b - a))
        self._updated = array("q", self._created)

    @staticmethod
    def _utc(naive_chicago_ms: float) -> int:
        """Epoch ms of a Chicago wall-clock time given as naive ms."""
        naive = datetime(1970, 1, 1) + timedelta(milliseconds=int(naive_chicago_ms))
        return to_ms(naive.replace(tzinfo=CHICAGO))

    # --- construction from fixed rows -------------------------------------

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], seed: int = 0) -> CrimesDataset:
        """Serve fixed rows (SODA JSON rows or GeoJSON features) instead of synthetic ones.

        Null values are dropped (the portal omits them), GeoJSON's flattened
        `location_*` properties become the `location` object, and missing
        `:created_at`/`:updated_at` are derived from `updated_on` (Chicago time).
        Given `:id` values are replaced: ours sort like `id`, which paging relies on.
        """
        normalised = sorted((_normalise(row) for row in rows), key=lambda x: x[0])
        ids = [rid for rid, _, _, _ in normalised]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in rows")
        ds = cls(0, seed=seed)
        ds._n_initial = 0
        for rid, created, updated, row in normalised:
            ds._ids.append(rid)
            ds._ver.append(0)
            ds._created.append(created)
            ds._updated.append(updated)
            ds._fixed[rid] = row
        ds._resort()
        return ds

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 0) -> CrimesDataset:
        """Rows from a SODA JSON array or a GeoJSON FeatureCollection file."""
        data = json.loads(Path(path).read_text())
        rows = data["features"] if isinstance(data, dict) else data
        return cls.from_rows(rows, seed=seed)

    # --- state ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def max_updated_ms(self) -> int:
        with self._lock:
            return self._updated[self._by_updated[-1]] if self._ids else self._utc(self._end_ms)

    @property
    def max_updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.max_updated_ms / 1000, tz=UTC)

    def sid(self, row_id: int) -> str:
        """The `:id` system field, e.g. "row-k3x9-7bqe-m2fa"; monotonic in `id`."""
        # base32 of a < 2**60 value: 12 significant chars after the leading one.
        s = b32encode((self._salt + row_id * _SID_STEP).to_bytes(8, "big"))[1:13]
        s = s.translate(_SID_TABLE).decode()
        return f"row-{s[:4]}-{s[4:8]}-{s[8:]}"

    def _resort(self) -> None:
        ids, upd = self._ids, self._updated
        self._by_updated = array("q", sorted(range(len(ids)), key=lambda p: (upd[p], ids[p])))

    # --- bad rows -----------------------------------------------------------

    def _known_id(self, row_id: int | str) -> int:
        rid = int(row_id)
        p = bisect_left(self._ids, rid)  # ids are kept ascending
        if p == len(self._ids) or self._ids[p] != rid:
            raise KeyError(f"no row with id {rid} in this dataset ({len(self._ids)} rows)")
        return rid

    def patch(self, row_id: int | str, fn: RowPatch) -> None:
        """Serve row `row_id` as `fn(row)`, on top of its current version.

        `fn` gets a fresh dict and returns the row to serve: it may drop keys
        (even "id"), add columns or set any JSON value. `truth()` shows the same.
        Patches stack and survive revisions. Keys starting with ":" are ignored:
        system fields come from the index, which is what keeps paging intact.
        """
        with self._lock:
            rid = self._known_id(row_id)
            self._patches[rid] = (*self._patches.get(rid, ()), fn)

    def duplicate(self, row_id: int | str) -> None:
        """Serve row `row_id` twice, back to back, in whichever page holds it.

        `$limit` and `$offset` still count rows once (a page may carry limit+1),
        as do `count(*)` and `truth()`.
        """
        with self._lock:
            self._duplicates.add(self._known_id(row_id))

    # --- revisions --------------------------------------------------------

    def apply_revision(
        self,
        new_rows: int,
        updated_rows: int,
        at: datetime | None = None,
        seed: int | None = None,
    ) -> RevisionResult:
        """Add `new_rows` rows and re-version `updated_rows` random existing rows.

        Every touched row gets the same `:updated_at` (`at`, default one minute
        after the current maximum): real revisions are bulk writes, so clients
        must page through ties on `:updated_at` correctly.
        """
        with self._lock:
            at_ms = to_ms(at) if at is not None else self.max_updated_ms + 60_000
            n = len(self._ids)
            key = seed if seed is not None else self._revisions
            r = random.Random(f"revision-{self.seed}-{key}")
            self._revisions += 1
            picks = sorted(r.sample(range(n), min(updated_rows, n)))
            for p in picks:
                self._ver[p] += 1
                self._updated[p] = at_ms
            next_id = (self._ids[-1] + 1) if n else self._first_id
            # Real ids are not contiguous: leave small gaps between new ids.
            new_ids: list[int] = []
            for _ in range(new_rows):
                next_id += r.randint(1, 3)
                new_ids.append(next_id)
            self._ids.extend(new_ids)
            self._ver.extend([0] * new_rows)
            self._created.extend([at_ms] * new_rows)
            self._updated.extend([at_ms] * new_rows)
            prev_max = self._updated[self._by_updated[-1]] if n else None
            if prev_max is not None and at_ms <= prev_max:
                self._resort()  # stamped in the past: no cheap append, re-sort all
            else:
                # Touched rows move to the tail, which stays in id order.
                moved = bytearray(n)
                for p in picks:
                    moved[p] = 1
                keep = array("q", [p for p in self._by_updated if not moved[p]])
                keep.extend(picks)
                keep.extend(range(n, n + new_rows))
                self._by_updated = keep
            return RevisionResult(
                new_ids=[str(i) for i in new_ids],
                updated_ids=[str(self._ids[p]) for p in picks],
                updated_at=datetime.fromtimestamp(at_ms / 1000, tz=UTC),
            )

    # --- rendering --------------------------------------------------------

    def _date_text(self, row_id: int, created_ms: int) -> str:
        index = row_id - self._first_id
        if 0 <= index < self._n_initial:  # initial rows: chronological by id
            naive = self._start_ms + (index + _frac(row_id)) * self._step
        else:  # rows added by revisions happened hours to days before publication
            local = created_ms + int(datetime.fromtimestamp(created_ms / 1000, CHICAGO)
                                     .utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
            naive = local - 3_600_000 - _frac(row_id) * 6 * DAY_MS
        return floating_text(int(naive) // 60_000 * 60_000)

    def _render(self, row_id: int, version: int, created: int, updated: int) -> dict[str, Any]:
        fixed = self._fixed.get(row_id)
        if fixed is not None:
            row = dict(fixed)
        else:
            row = synth.base_row(self.seed, row_id, self._date_text(row_id, created))
        for v in range(1, version + 1):
            synth.revise(row, self.seed, row_id, v)
        if fixed is None or version or "updated_on" not in row:
            row["updated_on"] = chicago_text(updated)
        for fn in self._patches.get(row_id, ()):
            row = fn(row)
            if not isinstance(row, dict):  # the classic slip: mutate, forget to return
                raise TypeError(f"patch for row {row_id} returned {type(row).__name__}, not dict")
        return row

    def _served(self, row_id: int, row: dict[str, Any]) -> dict[str, Any]:
        """The row's content columns as served: `*` order, then columns a patch added."""
        out = {c: row[c] for c in synth.COLUMNS if c in row}
        if row_id in self._patches:
            out.update((k, v) for k, v in row.items() if k not in out and not k.startswith(":"))
        return out

    def _full_row(self, p: int) -> dict[str, Any]:
        rid = self._ids[p]
        return self._render(rid, self._ver[p], self._created[p], self._updated[p])

    def _system(self, p: int, column: str) -> str:
        if column == ":id":
            return self.sid(self._ids[p])
        return fixed_text(self._created[p] if column == ":created_at" else self._updated[p])

    def _project(self, p: int, select: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any]
        rid = self._ids[p]
        if select == synth.COLUMNS:  # fast path for `*`, the common case
            return self._served(rid, self._full_row(p))
        if select == _ALL:
            out = {c: self._system(p, c) for c in SYSTEM_COLUMNS}
            out.update(self._served(rid, self._full_row(p)))
            return out
        needs_row = rid in self._patches or any(c not in SYSTEM_COLUMNS and c != "id"
                                                for c in select)
        row = self._full_row(p) if needs_row else {"id": str(rid)}
        out = {}
        for column in select:
            if column in SYSTEM_COLUMNS:
                out[column] = self._system(p, column)
            elif column in row:  # null values are omitted, like the portal
                out[column] = row[column]
        return out

    def truth(self) -> Iterator[dict[str, Any]]:
        """Current version of every row (system fields first), in id order.

        Exactly as served: patches applied, a duplicated row once. Works on a
        snapshot, so a concurrent revision never tears the iteration.
        """
        with self._lock:
            snap = (array("q", self._ids), array("I", self._ver),
                    array("q", self._created), array("q", self._updated))
        for rid, ver, created, updated in zip(*snap, strict=True):
            row = self._render(rid, ver, created, updated)
            yield {":id": self.sid(rid), ":created_at": fixed_text(created),
                   ":updated_at": fixed_text(updated), **self._served(rid, row)}

    # --- querying ---------------------------------------------------------

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Rows of one page (or `[{"count": "N"}]`), rendered under the lock."""
        with self._lock:
            positions = self._plan(q)
            if q.count:
                return [{"count": str(positions if isinstance(positions, int) else len(positions))}]
            assert not isinstance(positions, int)
            rows: list[dict[str, Any]] = []
            for p in positions:
                rows.append(self._project(p, q.select))
                if self._ids[p] in self._duplicates:
                    rows.append(dict(rows[-1]))
            return rows

    def _value(self, p: int, column: str, cache: dict[int, dict[str, Any]]) -> Any:
        """A cell in the value space `soql.coerce` maps literals to."""
        if column == "id":
            return self._ids[p]
        if column == ":id":
            return self.sid(self._ids[p])
        if column in _UPDATED_KEYS:
            return self._updated[p]
        if column == ":created_at":
            return self._created[p]
        row = cache.get(p)
        if row is None:
            row = cache[p] = self._full_row(p)
        value = row.get(column)
        try:
            if value is None or column in BOOLEAN:
                return value if isinstance(value, bool) else None
            if column in FLOATING_TS:
                return parse_floating(value)
            if column in NUMBER:
                return float(value)
            return value if isinstance(value, str) else None
        except (AttributeError, TypeError, ValueError):
            return None  # a patched cell of the wrong type compares (and sorts) as null

    def _matches(self, expr: Expr, p: int, cache: dict[int, dict[str, Any]]) -> bool:
        if isinstance(expr, Cmp):
            return compare(expr.op, self._value(p, expr.column, cache), expr.value)
        if isinstance(expr, And):
            return all(self._matches(e, p, cache) for e in expr.parts)
        return any(self._matches(e, p, cache) for e in expr.parts)

    def _plan(self, q: Query) -> list[int] | range | int:
        """Positions of the page in order (or the match count for count(*))."""
        n, order = len(self._ids), q.order
        if not order or order[0][0] in _ID_KEYS:
            seq: Any = range(n)  # positions are in id order
            desc = bool(order) and order[0][1]
            bound = self._id_bounder
        elif order[0][0] in _UPDATED_KEYS and (
            len(order) == 1 or (order[1][0] in _ID_KEYS and order[1][1] == order[0][1])
        ):
            seq, desc, bound = self._by_updated, order[0][1], self._updated_bounder
        else:
            return self._plan_generic(q)
        lo, hi, exact = _range(q.where, n, bound)
        if q.count and exact:
            return max(0, hi - lo)
        if exact:  # the whole filter is the range: slice directly, O(log n)
            if desc:
                top = hi - q.offset
                return [seq[i] for i in range(top - 1, max(lo, top - q.limit) - 1, -1)]
            first = lo + q.offset
            return [seq[i] for i in range(first, min(hi, first + q.limit))]
        cache: dict[int, dict[str, Any]] = {}
        indices = range(hi - 1, lo - 1, -1) if desc else range(lo, hi)
        hits = (seq[i] for i in indices if self._matches(q.where, seq[i], cache))  # type: ignore[arg-type]
        if q.count:
            return sum(1 for _ in hits)
        out: list[int] = []
        for k, p in enumerate(hits):
            if k >= q.offset + q.limit:
                break
            if k >= q.offset:
                out.append(p)
        return out

    def _plan_generic(self, q: Query) -> list[int] | int:
        """Any other order: filter everything, sort in Python (fine for small data)."""
        cache: dict[int, dict[str, Any]] = {}
        hits = [p for p in range(len(self._ids))
                if q.where is None or self._matches(q.where, p, cache)]
        if q.count:
            return len(hits)
        for column, desc in reversed(q.order):  # stable sorts, least significant first
            present = [p for p in hits if self._value(p, column, cache) is not None]
            missing = [p for p in hits if self._value(p, column, cache) is None]
            present.sort(key=lambda p, c=column: self._value(p, c, cache), reverse=desc)
            hits = present + missing  # nulls last, like Postgres ASC
        return hits[q.offset:q.offset + q.limit]

    def _id_bounder(self, cmp: Cmp) -> tuple[int, int] | None:
        if cmp.column == "id" and isinstance(cmp.value, int | float):
            return _bisect_range(self._ids, cmp.op, cmp.value, None)
        if cmp.column == ":id" and isinstance(cmp.value, str):
            return _bisect_range(self._ids, cmp.op, cmp.value, self.sid)
        return None

    def _updated_bounder(self, cmp: Cmp) -> tuple[int, int] | None:
        if cmp.column in _UPDATED_KEYS:
            return _bisect_range(self._by_updated, cmp.op, cmp.value, self._updated.__getitem__)
        return None


def _bisect_range(seq: Any, op: str, value: Any, key: Callable[[Any], Any] | None
                  ) -> tuple[int, int] | None:
    """Index range of `seq` (sorted by `key`) whose key satisfies `op value`."""
    n = len(seq)
    if op == ">":
        return bisect_right(seq, value, key=key), n
    if op == ">=":
        return bisect_left(seq, value, key=key), n
    if op == "<":
        return 0, bisect_left(seq, value, key=key)
    if op == "<=":
        return 0, bisect_right(seq, value, key=key)
    if op == "=":
        return bisect_left(seq, value, key=key), bisect_right(seq, value, key=key)
    return None  # != is not a range


def _range(expr: Expr | None, n: int, bound: Callable[[Cmp], tuple[int, int] | None]
           ) -> tuple[int, int, bool]:
    """(lo, hi, exact): the index range that can match, and whether all of it does."""
    if expr is None:
        return 0, n, True
    if isinstance(expr, Cmp):
        r = bound(expr)
        return (r[0], r[1], True) if r is not None else (0, n, False)
    parts = [_range(e, n, bound) for e in expr.parts]
    if isinstance(expr, And):
        return (max(p[0] for p in parts), min(p[1] for p in parts), all(p[2] for p in parts))
    assert isinstance(expr, Or)
    return min(p[0] for p in parts), max(p[1] for p in parts), False


def _normalise(item: dict[str, Any]) -> tuple[int, int, int, dict[str, Any]]:
    """(id, created ms, updated ms, row) from a SODA row or a GeoJSON feature."""
    props = item.get("properties", item) if item.get("type") == "Feature" else item
    row = {k: v for k, v in props.items() if v is not None}
    for k in ("location_address", "location_city", "location_state", "location_zip"):
        row.pop(k, None)  # GeoJSON flattens `location` into these
    if "location" not in row and "latitude" in row and "longitude" in row:
        row["location"] = {"latitude": row["latitude"], "longitude": row["longitude"],
                           "human_address": synth.HUMAN_ADDRESS}
    for k in ("date", "updated_on"):  # older exports omit the .000
        if isinstance(row.get(k), str):
            row[k] = floating_text(parse_floating(row[k]))
    updated = row.pop(":updated_at", None)
    created = row.pop(":created_at", None)
    row.pop(":id", None)
    if updated is not None:
        updated_ms = parse_instant(updated)
    elif "updated_on" in row:
        updated_ms = parse_instant(row["updated_on"], floating_zone=CHICAGO)
    else:
        updated_ms = parse_instant(row.get("date", "2001-01-01"), floating_zone=CHICAGO)
    created_ms = parse_instant(created) if created is not None else updated_ms
    row = {c: row[c] for c in synth.COLUMNS if c in row}
    return int(row["id"]), created_ms, updated_ms, row
