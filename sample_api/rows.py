"""A row dataset: compact per-row state, rows rendered on demand by a `RowModel`.

Per row we keep only a row number, a version and two epoch-ms stamps in `array`
columns (~30 bytes/row, so 1M rows is ~30 MB) plus one index sorted by
(`:updated_at`, row number). Row content is a pure function of (seed, row number,
version), computed by the dataset's `RowModel`, so an incremental query
(`:updated_at > X order by :updated_at,:id limit/offset`) is two bisects and a
slice, and only the served page is ever materialised.

For data-quality tests, `patch` rewrites chosen rows as served, `duplicate`
serves a row twice and `omit_system` serves a row without a system field; all
are keyed by the row's key and never touch the index, so paging and filters
keep working whatever is done to a row.
"""

from __future__ import annotations

import random
import threading
from array import array
from base64 import b32encode
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .soql import (
    BOOLEAN,
    FLOATING_TS,
    INSTANT_LOCAL,
    NUMBER,
    SYSTEM_COLUMNS,
    TEXT,
    And,
    Cmp,
    Expr,
    Or,
    Query,
    Schema,
    compare,
    in_order,
)
from .times import CHICAGO, chicago_text, fixed_text, parse_floating, parse_instant, to_ms
from .views import view_metadata

if TYPE_CHECKING:
    from .models.geo import Placement

DAY_MS = 86_400_000
# RFC 4648 base32 digits mapped onto an ASCII-sorted alphabet, so `:id` sorts like the row number.
_SID_TABLE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"23456789abcdefghijkmnpqrstuvwxyz")
_SID_STEP = 104_729  # spreads consecutive ids over many digits so :ids look random

RowPatch = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RevisionResult:
    new_ids: list[str]  # keys of the added rows (crimes: ids)
    updated_ids: list[str]  # keys of the re-versioned rows
    updated_at: datetime  # the one `:updated_at` every touched row now carries
    # of updated_ids, those also moved in time and place (`moved_rows`)
    moved_ids: list[str] = dataclass_field(default_factory=list)


@dataclass(frozen=True)
class Move:
    """How far revisions moved a row: its event `shift_ms` earlier, and its point redrawn
    `count` times (`RowModel.moved_placement`)."""

    shift_ms: int
    count: int


class RowModel:
    """What one dataset's rows look like; subclass per dataset.

    The engine numbers rows with integers (ascending, so `:id` can follow them);
    `key_text` renders a row number as the key column's text. `base_row` and
    `revise` must be pure functions of their arguments: a row is re-rendered
    every time it is served.
    """

    dataset_id: str  # the Socrata 4x4
    name: str  # the table name in datasets.yml
    title: str  # the portal's dataset name
    schema: Schema  # served columns in `*` order, with their SoQL kinds
    key: str  # the key column
    # True when the key text is str(row number): key filters and orders then bisect.
    key_is_number: bool = True
    updated_column: str | None = None  # a column rendering `:updated_at` as Chicago time
    first_row: int = 1
    start: str = "2022-01-01"  # events spread over [start, end), Chicago wall-clock time
    end: str = "2026-11-01"

    def key_text(self, row_number: int, event_ms: int) -> str:
        """The key column's text; `event_ms` is the row's event (naive Chicago ms)."""
        return str(row_number)

    def key_number(self, text: str) -> int | None:
        """The row number behind a key text, or None when it cannot be derived."""
        try:
            return int(text)
        except ValueError:
            return None

    def base_row(self, seed: int, row_number: int, event_ms: int,
                 placement: Placement | None = None) -> dict[str, Any]:
        """Version 0 of a row; `event_ms` is when its event happened (naive Chicago ms).

        `placement`: where the row is when a revision moved it (`moved_placement`);
        None for its own point (`placement(seed, row_number)`).
        """
        raise NotImplementedError

    def revise(self, row: dict[str, Any], seed: int, row_number: int, version: int) -> None:
        """Apply the edit that produced `version` (>= 1) in place."""

    def finish(self, row: dict[str, Any], updated_ms: int) -> None:
        """Last touch once the row's `:updated_at` is known (e.g. a last-modified column)."""
        if self.updated_column:
            row[self.updated_column] = chicago_text(updated_ms)

    def placement(self, seed: int, row_number: int) -> Placement | None:
        """Where the row's coordinates come from, for rows with geography."""
        return None

    def moved_placement(self, seed: int, row_number: int, count: int) -> Placement | None:
        """Where the row is after its `count`-th move (`RowDataset.apply_revision`'s
        `moved_rows`): a point of its own draw stream, None for rows without geography."""
        if self.placement(seed, row_number) is None:
            return None
        from .models.geo import place

        return place(f"{self.name}-moved-{count}", seed, row_number)

    def normalise(self, item: Mapping[str, Any]) -> tuple[int | None, int, int, dict[str, Any]]:
        """(row number or None, created ms, updated ms, row) of a SODA row or GeoJSON feature.

        Null values are dropped (the portal omits them); system fields give the stamps,
        else `updated_column` (Chicago time), else the end of the model's range.
        """
        props = item.get("properties", item) if item.get("type") == "Feature" else item
        row = {k: v for k, v in props.items() if v is not None}
        updated, created = row.pop(":updated_at", None), row.pop(":created_at", None)
        row.pop(":id", None)
        if updated is not None:
            updated_ms = parse_instant(updated)
        elif self.updated_column and self.updated_column in row:
            updated_ms = parse_instant(row[self.updated_column], floating_zone=CHICAGO)
        else:
            updated_ms = parse_instant(self.end, floating_zone=CHICAGO)
        created_ms = parse_instant(created) if created is not None else updated_ms
        if self.key not in row:
            raise ValueError(f"dataset {self.dataset_id}: a row without its key {self.key!r}: {row}")
        number = self.key_number(str(row[self.key])) if self.key_is_number else None
        return number, created_ms, updated_ms, {c: row[c] for c in self.schema.columns if c in row}


def _frac(row_number: int) -> float:
    """A cheap deterministic jitter in [0, 1) (Knuth multiplicative hash)."""
    return ((row_number * 2654435761) % 4294967296) / 4294967296


def default_batch_rows(n_rows: int) -> tuple[int, int]:
    """1000-5000 rows per load like the portal; small datasets get ~20-100 loads
    instead, so paging in tests still crosses many distinct stamps."""
    if n_rows >= 100_000:
        return 1000, 5000
    return max(1, n_rows // 100), max(1, n_rows // 20)


class RowDataset:
    """Deterministic synthetic rows of one `RowModel`, served like a Socrata dataset.

    Initial rows are loaded in bulk batches of `batch_rows` (min, max) rows that
    share one `:updated_at`, as real portal loads do. Old batches were re-published in
    bulk during the last fifth of [start, end); recent ones carry the stamp
    of their load, a few days after their events.
    """

    def __init__(
        self,
        model: RowModel,
        n_rows: int,
        seed: int = 0,
        start: str | None = None,
        end: str | None = None,
        *,
        batch_rows: tuple[int, int] | None = None,
        first_row: int | None = None,
    ) -> None:
        if batch_rows is None:
            batch_rows = default_batch_rows(n_rows)
        if n_rows < 0 or batch_rows[0] < 1 or batch_rows[0] > batch_rows[1]:
            raise ValueError("n_rows must be >= 0 and batch_rows a (min, max) with min >= 1")
        self.model = model
        self.seed = seed
        self._lock = threading.RLock()
        self._fixed: dict[int, dict[str, Any]] = {}  # from_rows content, by row number
        self._patches: dict[int, tuple[RowPatch, ...]] = {}  # by row number, applied in order
        self._duplicates: set[int] = set()  # row numbers served twice
        self._omitted: dict[int, frozenset[str]] = {}  # system fields left out, by row number
        self._moves: dict[int, Move] = {}  # rows revisions moved in time and place, by row number
        self._revisions = 0
        first_row = model.first_row if first_row is None else first_row
        self._first_id, self._n_initial = first_row, n_rows
        self._start_ms = parse_floating(start or model.start)
        self._end_ms = parse_floating(end or model.end)
        if self._end_ms <= self._start_ms:
            raise ValueError("end must be after start")
        self._step = (self._end_ms - self._start_ms) / max(n_rows, 1)
        self._salt = random.Random(f"sid-{seed}").randrange(2**50, 2**55)
        key = model.key
        self._id_keys = frozenset({":id", key} if model.key_is_number else {":id"})
        self._updated_keys = frozenset({":updated_at", model.updated_column} - {None})

        self._ids = array("q", range(first_row, first_row + n_rows))
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
        # Stamps are distinct and each batch is a row-number range, so sorting batches
        # by stamp yields the (:updated_at, row number) order without a per-row sort.
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

    # --- construction -----------------------------------------------------

    @classmethod
    def of_rows(cls, model: RowModel, rows: Iterable[Mapping[str, Any]], seed: int = 0) -> RowDataset:
        """Serve fixed rows (SODA JSON rows or GeoJSON features) of `model` instead of synthetic ones."""
        ds = RowDataset(model, 0, seed=seed)
        ds._add_fixed(model.normalise(row) for row in rows)
        return ds

    @classmethod
    def from_declaration(cls, dataset_id: str, primary_key: str, columns: Mapping[str, str],
                         n_rows: int, seed: int = 0, *, name: str | None = None,
                         title: str | None = None) -> RowDataset:
        """A dataset known only by its datasets.yml declaration (`columns`: name -> text,
        bool, json or timestamp), filled with plausible values per type."""
        from .models.declared import DeclaredModel

        model = DeclaredModel(dataset_id, primary_key, columns, name=name, title=title)
        return RowDataset(model, n_rows, seed=seed)

    def _add_fixed(self, normalised: Iterable[tuple[int | None, int, int, dict[str, Any]]]) -> None:
        """Append fixed rows; rows without a row number are numbered in key order."""
        items = list(normalised)
        if any(number is None for number, _, _, _ in items):
            key = self.model.key
            items.sort(key=lambda x: str(x[3][key]))
            items = [(self._first_id + i, c, u, row) for i, (_, c, u, row) in enumerate(items)]
        items.sort(key=lambda x: x[0])  # type: ignore[arg-type, return-value]
        numbers = [number for number, _, _, _ in items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("duplicate ids in rows")
        self._n_initial = 0
        for number, created, updated, row in items:
            assert number is not None
            self._ids.append(number)
            self._ver.append(0)
            self._created.append(created)
            self._updated.append(updated)
            self._fixed[number] = row
        self._resort()

    # --- state ------------------------------------------------------------

    @property
    def dataset_id(self) -> str:
        return self.model.dataset_id

    @property
    def title(self) -> str:
        return self.model.title

    @property
    def schema(self) -> Schema:
        return self.model.schema

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def max_updated_ms(self) -> int:
        with self._lock:
            return self._updated[self._by_updated[-1]] if self._ids else self._utc(self._end_ms)

    @property
    def max_updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.max_updated_ms / 1000, tz=UTC)

    def metadata(self) -> dict[str, Any]:
        """The `/api/views/<id>.json` body: rowsUpdatedAt is the newest `:updated_at`."""
        with self._lock:
            created = min(self._created) if self._ids else self.max_updated_ms
            return view_metadata(self.model.dataset_id, self.model.title, self.schema,
                                 created_ms=created, rows_updated_ms=self.max_updated_ms)

    def sid(self, row_id: int) -> str:
        """The `:id` system field, e.g. "row-k3x9-7bqe-m2fa"; monotonic in the row number."""
        # base32 of a < 2**60 value: 12 significant chars after the leading one.
        s = b32encode((self._salt + row_id * _SID_STEP).to_bytes(8, "big"))[1:13]
        s = s.translate(_SID_TABLE).decode()
        return f"row-{s[:4]}-{s[4:8]}-{s[8:]}"

    def _resort(self) -> None:
        ids, upd = self._ids, self._updated
        self._by_updated = array("q", sorted(range(len(ids)), key=lambda p: (upd[p], ids[p])))

    def _event_ms(self, row_id: int, created_ms: int) -> int:
        """When a row's event happened, naive Chicago ms."""
        index = row_id - self._first_id
        if 0 <= index < self._n_initial:  # initial rows: chronological by row number
            return int(self._start_ms + (index + _frac(row_id)) * self._step)
        # rows added by revisions happened hours to days before publication
        local = created_ms + int(datetime.fromtimestamp(created_ms / 1000, CHICAGO)
                                 .utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        return int(local - 3_600_000 - _frac(row_id) * 6 * DAY_MS)

    def _key_text(self, p: int) -> str:
        rid = self._ids[p]
        if self.model.key_is_number:
            return str(rid)
        fixed = self._fixed.get(rid)
        if fixed is not None and isinstance(fixed.get(self.model.key), str):
            return fixed[self.model.key]
        return self.model.key_text(rid, self._event_ms(rid, self._created[p]))

    # --- bad rows -----------------------------------------------------------

    def _known_id(self, row_id: int | str) -> int:
        """The row number of a key (an int is taken as a row number)."""
        key = self.model.key
        if isinstance(row_id, int) or self.model.key_is_number:
            rid = int(row_id)
            p = bisect_left(self._ids, rid)  # row numbers are kept ascending
            if p < len(self._ids) and self._ids[p] == rid:
                return rid
            raise KeyError(f"no row with {key} {rid} in this dataset ({len(self._ids)} rows)")
        number = self.model.key_number(row_id)
        if number is not None:
            p = bisect_left(self._ids, number)
            if p < len(self._ids) and self._ids[p] == number and self._key_text(p) == row_id:
                return number
        for p in range(len(self._ids)):  # keys that do not encode their row number
            if self._key_text(p) == row_id:
                return self._ids[p]
        raise KeyError(f"no row with {key} {row_id} in this dataset ({len(self._ids)} rows)")

    def patch(self, row_id: int | str, fn: RowPatch) -> None:
        """Serve row `row_id` (its key) as `fn(row)`, on top of its current version.

        `fn` gets a fresh dict and returns the row to serve: it may drop keys
        (even the key), add columns or set any JSON value. `truth()` shows the same.
        Patches stack and survive revisions. Keys starting with ":" are ignored:
        system fields come from the index, which is what keeps paging intact.
        """
        with self._lock:
            rid = self._known_id(row_id)
            self._patches[rid] = (*self._patches.get(rid, ()), fn)

    def duplicate(self, row_id: int | str) -> None:
        """Serve row `row_id` (its key) twice, back to back, in whichever page holds it.

        `$limit` and `$offset` still count rows once (a page may carry limit+1),
        as do `count(*)` and `truth()`.
        """
        with self._lock:
            self._duplicates.add(self._known_id(row_id))

    def omit_system(self, row_id: int | str, *fields: str) -> None:
        """Serve row `row_id` (its key) without these system fields (e.g. ":updated_at").

        A client must cope with a row that lacks its change stamp. The row keeps its
        place in the index: `$where` and `$order` still see the field, only the
        served row (and `truth()`) leaves it out.
        """
        unknown = set(fields) - set(SYSTEM_COLUMNS)
        if unknown:
            raise ValueError(f"not system fields: {sorted(unknown)}; expected some of {SYSTEM_COLUMNS}")
        with self._lock:
            rid = self._known_id(row_id)
            self._omitted[rid] = self._omitted.get(rid, frozenset()) | frozenset(fields)

    # --- revisions --------------------------------------------------------

    def apply_revision(
        self,
        new_rows: int,
        updated_rows: int,
        at: datetime | None = None,
        seed: int | None = None,
        moved_rows: int = 0,
    ) -> RevisionResult:
        """Add `new_rows` rows and re-version `updated_rows` random existing rows.

        Every touched row gets the same `:updated_at` (`at`, default one minute
        after the current maximum): real revisions are bulk writes, so clients
        must page through ties on `:updated_at` correctly.

        `moved_rows` of the re-versioned rows (synthetic ones, not `from_rows`
        rows) are also moved, as a corrected report is: their event 35 to 400 days
        earlier (so into another month, and maybe before the first event), and
        their point redrawn (so, mostly, into another ZIP and area; sometimes
        without coordinates). Their key stays; `truth()` shows the moved row.
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
            moved = self._move(picks, moved_rows, r) if moved_rows else []
            self._ids.extend(new_ids)
            self._ver.extend([0] * new_rows)
            self._created.extend([at_ms] * new_rows)
            self._updated.extend([at_ms] * new_rows)
            prev_max = self._updated[self._by_updated[-1]] if n else None
            if prev_max is not None and at_ms <= prev_max:
                self._resort()  # stamped in the past: no cheap append, re-sort all
            else:
                # Touched rows move to the tail, which stays in row-number order.
                moved_flags = bytearray(n)
                for p in picks:
                    moved_flags[p] = 1
                keep = array("q", [p for p in self._by_updated if not moved_flags[p]])
                keep.extend(picks)
                keep.extend(range(n, n + new_rows))
                self._by_updated = keep
            return RevisionResult(
                new_ids=[self._key_text(p) for p in range(n, n + new_rows)],
                updated_ids=[self._key_text(p) for p in picks],
                updated_at=datetime.fromtimestamp(at_ms / 1000, tz=UTC),
                moved_ids=[self._key_text(p) for p in moved],
            )

    def _move(self, picks: list[int], count: int, r: random.Random) -> list[int]:
        """Moves `count` of the positions `picks` (synthetic rows only); returns them."""
        movable = [p for p in picks if self._ids[p] not in self._fixed]
        chosen = sorted(r.sample(movable, min(count, len(movable))))
        for p in chosen:
            rid = self._ids[p]
            before = self._moves.get(rid, Move(0, 0))
            self._moves[rid] = Move(before.shift_ms + r.randint(35, 400) * DAY_MS, before.count + 1)
        return chosen

    # --- rendering --------------------------------------------------------

    def _render(self, row_id: int, version: int, created: int, updated: int) -> dict[str, Any]:
        model = self.model
        fixed = self._fixed.get(row_id)
        move = self._moves.get(row_id)
        if fixed is not None:
            row = dict(fixed)
        elif move is None:
            row = model.base_row(self.seed, row_id, self._event_ms(row_id, created))
        else:  # its event and point moved; its key (which may encode the event) did not
            event_ms = self._event_ms(row_id, created)
            row = model.base_row(self.seed, row_id, event_ms - move.shift_ms,
                                 placement=model.moved_placement(self.seed, row_id, move.count))
            if model.key in row:
                row[model.key] = model.key_text(row_id, event_ms)
        for v in range(1, version + 1):
            model.revise(row, self.seed, row_id, v)
        if fixed is None or version:
            model.finish(row, updated)
        elif model.updated_column and model.updated_column not in row:
            row[model.updated_column] = chicago_text(updated)
        for fn in self._patches.get(row_id, ()):
            row = fn(row)
            if not isinstance(row, dict):  # the classic slip: mutate, forget to return
                raise TypeError(f"patch for row {row_id} returned {type(row).__name__}, not dict")
        return row

    def _served(self, row_id: int, row: dict[str, Any]) -> dict[str, Any]:
        """The row's content columns as served: `*` order, then columns a patch added."""
        out = {c: row[c] for c in self.schema.columns if c in row}
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
        rid, columns, key = self._ids[p], self.schema.columns, self.model.key
        if select == columns:  # fast path for `*`, the common case
            return self._served(rid, self._full_row(p))
        omitted = self._omitted.get(rid, frozenset())
        if len(select) == len(columns) + 3 and select[:3] == SYSTEM_COLUMNS and select[3:] == columns:
            out = {c: self._system(p, c) for c in SYSTEM_COLUMNS if c not in omitted}
            out.update(self._served(rid, self._full_row(p)))
            return out
        needs_row = rid in self._patches or any(c not in SYSTEM_COLUMNS and c != key for c in select)
        row = self._full_row(p) if needs_row else {key: self._key_text(p)}
        out = {}
        for column in select:
            if column in omitted:
                continue
            if column in SYSTEM_COLUMNS:
                out[column] = self._system(p, column)
            elif column in row:  # null values are omitted, like the portal
                out[column] = row[column]
        return out

    def truth(self) -> Iterator[dict[str, Any]]:
        """Current version of every row (system fields first), in row-number order.

        Exactly as served: patches applied, a duplicated row once. Works on a
        snapshot, so a concurrent revision never tears the iteration.
        """
        with self._lock:
            snap = (array("q", self._ids), array("I", self._ver),
                    array("q", self._created), array("q", self._updated))
        for rid, ver, created, updated in zip(*snap, strict=True):
            row = self._render(rid, ver, created, updated)
            system = {":id": self.sid(rid), ":created_at": fixed_text(created),
                      ":updated_at": fixed_text(updated)}
            for field in self._omitted.get(rid, ()):
                system.pop(field)
            yield {**system, **self._served(rid, row)}

    # --- planted geography ------------------------------------------------

    def _placements(self) -> Iterator[tuple[str, Placement]]:
        with self._lock:
            positions = [(p, self._ids[p]) for p in range(len(self._ids))
                         if self._ids[p] not in self._fixed]
            moves = dict(self._moves)
        for p, rid in positions:
            move = moves.get(rid)
            placed = (self.model.placement(self.seed, rid) if move is None
                      else self.model.moved_placement(self.seed, rid, move.count))
            if placed is not None:
                yield self._key_text(p), placed

    def rows_on_edges(self) -> dict[str, tuple[float, float]]:
        """Key -> (lat, lon) of the rows placed exactly on a `boundaries.edge_points()` point."""
        return {key: (pl.lat, pl.lon) for key, pl in self._placements() if pl.on_edge}

    def community_area_mismatches(self) -> dict[str, tuple[int, int]]:
        """Key -> (served community_area, true area) of rows whose area disagrees with their point.

        Deliberate, like the portal's own geocoding slips; only datasets with a
        community_area column have any. The true area is `boundaries.locate`'s.
        """
        if "community_area" not in self.schema.columns:
            return {}
        return {key: (pl.served_area, pl.area) for key, pl in self._placements()
                if pl.area is not None and pl.served_area != pl.area}  # type: ignore[misc]

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
        if column == self.model.key:  # the stored key, even if a patch dropped it
            return self._ids[p] if self.model.key_is_number else self._key_text(p)
        if column == ":id":
            return self.sid(self._ids[p])
        if column in self._updated_keys:
            return self._updated[p]
        if column == ":created_at":
            return self._created[p]
        row = cache.get(p)
        if row is None:
            row = cache[p] = self._full_row(p)
        value = row.get(column)
        kind = self.schema.kind(column)
        try:
            if value is None or kind == BOOLEAN:
                return value if isinstance(value, bool) else None
            if kind == FLOATING_TS:
                return parse_floating(value)
            if kind == INSTANT_LOCAL:
                return parse_instant(value, floating_zone=CHICAGO)
            if kind == NUMBER:
                return float(value)
            return value if kind == TEXT and isinstance(value, str) else None
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
        if not order or order[0][0] in self._id_keys:
            seq: Any = range(n)  # positions are in row-number order
            desc = bool(order) and order[0][1]
            bound = self._id_bounder
        elif order[0][0] in self._updated_keys and (
            len(order) == 1 or (order[1][0] in self._id_keys and order[1][1] == order[0][1])
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
        hits = in_order(hits, q.order, lambda p, c: self._value(p, c, cache))
        return hits[q.offset:q.offset + q.limit]

    def _id_bounder(self, cmp: Cmp) -> tuple[int, int] | None:
        if (cmp.column == self.model.key and self.model.key_is_number
                and isinstance(cmp.value, int | float)):
            return _bisect_range(self._ids, cmp.op, cmp.value, None)
        if cmp.column == ":id" and isinstance(cmp.value, str):
            return _bisect_range(self._ids, cmp.op, cmp.value, self.sid)
        return None

    def _updated_bounder(self, cmp: Cmp) -> tuple[int, int] | None:
        if cmp.column in self._updated_keys:
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
