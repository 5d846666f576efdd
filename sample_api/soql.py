"""A small SoQL subset: `$select`, `$where`, `$order`, `$limit`, `$offset`.

Only what an incremental loader needs is supported, but it is parsed strictly
and rejected with the same error codes as Socrata so clients see real failures:
`query.soql.no-such-column`, `query.soql.malformed`, `query.soql.type-mismatch`.
Each dataset brings its `Schema` (its columns and how each compares), so one
parser serves every dataset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .times import CHICAGO, parse_floating, parse_instant

SYSTEM_COLUMNS: tuple[str, ...] = (":id", ":created_at", ":updated_at")
T = TypeVar("T")

# Column kinds: how literals are coerced, which decides how comparisons behave.
TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"
FLOATING_TS = "floating_timestamp"  # wall-clock text, compared as written
INSTANT_LOCAL = "instant_local"  # floating text of an instant, compared as the Chicago instant
FIXED_TS = "fixed_timestamp"  # absolute instants (system fields), zoneless literals = UTC
LOCATION = "location"  # {latitude, longitude, human_address}
POINT = "point"  # GeoJSON Point
MULTIPOLYGON = "multipolygon"  # GeoJSON MultiPolygon (boundary layers)
KINDS = frozenset({TEXT, NUMBER, BOOLEAN, FLOATING_TS, INSTANT_LOCAL, FIXED_TS, LOCATION, POINT,
                   MULTIPOLYGON})
GEOMETRY = frozenset({LOCATION, POINT, MULTIPOLYGON})  # not comparable: no $where or $order
# The X-SODA2-Types name of each kind.
_SODA_TYPES = {TEXT: "text", NUMBER: "number", BOOLEAN: "boolean", FLOATING_TS: "floating_timestamp",
               INSTANT_LOCAL: "floating_timestamp", FIXED_TS: "calendar_date", LOCATION: "location",
               POINT: "point", MULTIPOLYGON: "multipolygon"}


@dataclass(frozen=True, eq=False)
class Schema:
    """A dataset's columns as SoQL sees them: the `*` order and each column's kind.

    Columns not in `kinds` are TEXT; the system fields are always there.
    """

    columns: tuple[str, ...]
    kinds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = {c: k for c, k in self.kinds.items() if k not in KINDS or c not in self.columns}
        if unknown:
            raise ValueError(f"Schema: unknown kinds or columns {unknown}; kinds are {sorted(KINDS)}")

    def __contains__(self, column: object) -> bool:
        return column in SYSTEM_COLUMNS or column in self.columns

    def kind(self, column: str) -> str:
        if column in (":created_at", ":updated_at"):
            return FIXED_TS
        return self.kinds.get(column, TEXT)

    def soda_type(self, column: str) -> str:
        """The column's X-SODA2-Types name."""
        return "meta_data" if column.startswith(":") else _SODA_TYPES[self.kind(column)]

    def geometry_column(self) -> str | None:
        """The column a `.geojson` feature takes its geometry from, if any."""
        return next((c for c in self.columns if self.kind(c) in GEOMETRY), None)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 50_000
OPS = frozenset({"=", "!=", "<>", ">", ">=", "<", "<="})


class SoqlError(Exception):
    """A query the service rejects with HTTP 400."""

    def __init__(self, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass(frozen=True)
class Cmp:
    column: str
    op: str  # "<>" is normalised to "!="
    value: Any  # already coerced to the column's comparison domain


@dataclass(frozen=True)
class And:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Expr, ...]


Expr = Cmp | And | Or


@dataclass(frozen=True)
class Query:
    select: tuple[str, ...] = ()
    count: bool = False  # `$select=count(*)`
    where: Expr | None = None
    order: tuple[tuple[str, bool], ...] = ()  # (column, descending)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _no_such_column(name: str) -> SoqlError:
    return SoqlError("query.soql.no-such-column", f"No such column: {name}", column=name)


def _column(name: str, schema: Schema) -> str:
    name = name.strip().strip("`")
    if name not in schema:
        raise _no_such_column(name)
    return name


def parse_select(text: str | None, schema: Schema) -> tuple[tuple[str, ...], bool]:
    """Returns (columns, is_count)."""
    if text is None or not text.strip():
        return schema.columns, False
    if re.fullmatch(r"\s*count\s*\(\s*\*\s*\)\s*", text, re.IGNORECASE):
        return (), True
    out: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if item == "*":
            out.extend(schema.columns)
        elif item == ":*":
            out.extend(SYSTEM_COLUMNS)
        elif re.fullmatch(r"`?:?[A-Za-z_][A-Za-z0-9_@]*`?", item):
            out.append(_column(item, schema))
        else:
            raise SoqlError("query.soql.malformed", f"Could not parse $select: {item!r}",
                            select=text)
    return tuple(dict.fromkeys(out)), False  # duplicates collapse, order kept


def parse_order(text: str | None, schema: Schema) -> tuple[tuple[str, bool], ...]:
    if text is None or not text.strip():
        return ()
    keys: list[tuple[str, bool]] = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*(`?:?[A-Za-z_][A-Za-z0-9_@]*`?)(?:\s+(asc|desc))?\s*", item,
                         re.IGNORECASE)
        if not m:
            raise SoqlError("query.soql.malformed", f"Could not parse $order: {item!r}",
                            order=text)
        column = _column(m.group(1), schema)
        if schema.kind(column) in GEOMETRY:
            raise SoqlError("query.soql.type-mismatch", f"Cannot order by {column}",
                            column=column)
        keys.append((column, (m.group(2) or "asc").lower() == "desc"))
    return tuple(keys)


def parse_int(name: str, text: str | None, default: int, maximum: int | None = None) -> int:
    if text is None or text == "":
        return default
    if not text.strip().isdigit():
        raise SoqlError("query.soql.malformed", f"{name} must be a non-negative integer",
                        parameter=name, value=text)
    value = int(text)
    if maximum is not None and value > maximum:
        raise SoqlError("query.soql.invalid-limit", f"{name} may not exceed {maximum}",
                        parameter=name, value=text, maximum=maximum)
    return value


# --- $where ----------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>>=|<=|!=|<>|=|>|<)|(?P<paren>[()])"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<ident>`[^`]+`|:?[A-Za-z_][A-Za-z0-9_@]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError("query.soql.malformed", f"Unexpected input at {pos}: {text[pos:pos + 20]!r}",
                            where=text, position=pos)
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def coerce(column: str, token: str, raw: str, schema: Schema) -> Any:
    """Turn a literal (a `token` kind: str, num, ident or raw) into `column`'s comparison space."""
    if token == "str":
        raw = raw[1:-1].replace("''", "'")
    kind = schema.kind(column)
    try:
        if kind == FIXED_TS:
            return parse_instant(raw)
        if kind == INSTANT_LOCAL:
            return parse_instant(raw, floating_zone=CHICAGO)
        if kind == FLOATING_TS:
            return parse_floating(raw)
        if kind == BOOLEAN:
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if kind == NUMBER:
            number = float(raw)
            return int(number) if number.is_integer() else number
        if kind in GEOMETRY:
            raise ValueError(raw)
        return raw
    except ValueError:
        raise SoqlError("query.soql.type-mismatch", f"Cannot compare {column} with {raw!r}",
                        column=column, literal=raw) from None


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.text, self.toks, self.i, self.schema = text, _tokens(text), 0, schema

    def _peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _fail(self, what: str) -> SoqlError:
        return SoqlError("query.soql.malformed", f"Could not parse $where: {what}", where=self.text)

    def _keyword(self, word: str) -> bool:
        tok = self._peek()
        if tok and tok[0] == "ident" and tok[1].lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self._or()
        if self._peek() is not None:
            raise self._fail(f"unexpected {self._peek()[1]!r}")  # type: ignore[index]
        return expr

    def _or(self) -> Expr:
        parts = [self._and()]
        while self._keyword("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self) -> Expr:
        parts = [self._atom()]
        while self._keyword("and"):
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _atom(self) -> Expr:
        tok = self._peek()
        if tok is None:
            raise self._fail("unexpected end")
        if tok == ("paren", "("):
            self.i += 1
            expr = self._or()
            if self._peek() != ("paren", ")"):
                raise self._fail("missing ')'")
            self.i += 1
            return expr
        if tok[0] != "ident" or tok[1].lower() in ("and", "or"):
            raise self._fail(f"expected a column, got {tok[1]!r}")
        self.i += 1
        column = _column(tok[1], self.schema)
        op = self._peek()
        if not op or op[0] != "op":
            raise self._fail(f"expected a comparison after {column}")
        self.i += 1
        lit = self._peek()
        if not lit or lit[0] not in ("str", "num", "ident") or lit[1].lower() in ("and", "or"):
            raise self._fail(f"expected a literal after {column} {op[1]}")
        if lit[0] == "ident" and lit[1].lower() not in ("true", "false"):
            raise self._fail(f"column-to-column comparison is not supported ({lit[1]})")
        self.i += 1
        return Cmp(column, "!=" if op[1] == "<>" else op[1],
                   coerce(column, lit[0], lit[1], self.schema))


def parse_where(text: str | None, schema: Schema) -> Expr | None:
    if text is None or not text.strip():
        return None
    return _Parser(text, schema).parse()


def simple_filters(params: dict[str, str], schema: Schema) -> list[Expr]:
    """SODA's `?column=value` equality filters."""
    return [Cmp(_column(k, schema), "=", coerce(_column(k, schema), "raw", v, schema))
            for k, v in params.items() if not k.startswith("$")]


def parse_query(params: dict[str, str], schema: Schema | None = None) -> Query:
    """Build a Query on `schema` (default: the crimes dataset's) from the query-string parameters."""
    if schema is None:  # callers from before datasets had schemas mean crimes
        from .crimes import CRIMES

        schema = CRIMES.schema
    known = {"$select", "$where", "$order", "$limit", "$offset", "$$app_token"}
    unknown = [k for k in params if k.startswith("$") and k not in known]
    if unknown:
        raise SoqlError("query.soql.malformed", f"Unsupported parameter {unknown[0]}",
                        parameter=unknown[0])
    select, count = parse_select(params.get("$select"), schema)
    clauses = [e for e in [parse_where(params.get("$where"), schema)] if e is not None]
    clauses += simple_filters({k: v for k, v in params.items() if k not in known}, schema)
    where = None if not clauses else clauses[0] if len(clauses) == 1 else And(tuple(clauses))
    return Query(
        select=select,
        count=count,
        where=where,
        order=parse_order(params.get("$order"), schema),
        limit=parse_int("$limit", params.get("$limit"), DEFAULT_LIMIT, MAX_LIMIT),
        offset=parse_int("$offset", params.get("$offset"), 0),
    )


def compare(op: str, left: Any, right: Any) -> bool:
    """SQL semantics: comparisons with a missing value are false."""
    if left is None:
        return False
    try:
        if op == "=":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == ">":
            return bool(left > right)
        if op == ">=":
            return bool(left >= right)
        if op == "<":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def matches(expr: Expr, value: Callable[[str], Any]) -> bool:
    """Whether a row satisfies `expr`; `value(column)` gives its cell in coerce's value space."""
    if isinstance(expr, Cmp):
        return compare(expr.op, value(expr.column), expr.value)
    if isinstance(expr, And):
        return all(matches(e, value) for e in expr.parts)
    return any(matches(e, value) for e in expr.parts)


def in_order(items: list[T], order: tuple[tuple[str, bool], ...],
              value: Callable[[T, str], Any]) -> list[T]:
    """`items` in `$order`, nulls last like Postgres ASC (stable, least significant key first)."""
    for column, desc in reversed(order):
        present = [i for i in items if value(i, column) is not None]
        missing = [i for i in items if value(i, column) is None]
        present.sort(key=lambda i, c=column: value(i, c), reverse=desc)
        items = present + missing
    return items
