"""A report request's query string as SQL: column names checked against the report's
columns and quoted as identifiers, values parsed by the column's kind and sent as
parameters. Nothing from the query string is ever pasted into the SQL text.

    ?community_area_number=25            equality (repeat the column for any of several)
    ?crime_date__gte=2026-03-01          ranges on numbers, dates and times: __gt, __gte,
                                         __lt, __lte
    ?order=-crime_count,community_area_name   sort; a leading - sorts descending
    ?limit=100&offset=200                paging (limit at most MAX_LIMIT)
    ?format=csv                          json (default) or csv
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from psycopg import sql

from .catalog import RANGE_KINDS, ApiReport, Column

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000_000
FORMATS = ("json", "csv")
RESERVED = {"order", "limit", "offset", "format"}
RANGES = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
TRUE, FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}


class BadRequest(ValueError):
    """A query string the API refuses (400), with what is wrong and what to send."""


@dataclass
class ReportQuery:
    report: ApiReport
    where: list[sql.Composable] = field(default_factory=list)
    params: list[object] = field(default_factory=list)
    order: list[sql.Composable] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    format: str = "json"

    def rows_sql(self) -> sql.Composed:
        # Types without a kind of their own (inet, interval, ...) are read as their text.
        columns = sql.SQL(", ").join(
            sql.SQL("{}::text as {}").format(sql.Identifier(c.name), sql.Identifier(c.name))
            if c.kind == "text" else sql.Identifier(c.name) for c in self.report.columns)
        # Every column after the asked order: pages never overlap or skip rows.
        order = [*self.order, *(sql.Identifier(c.name) for c in self.report.columns)]
        return sql.SQL("select {} from {}{} order by {} limit {} offset {}").format(
            columns, self.report.relation(), self._where(), sql.SQL(", ").join(order),
            sql.Literal(self.limit), sql.Literal(self.offset))

    def count_sql(self) -> sql.Composed:
        return sql.SQL("select count(*) from {}{}").format(self.report.relation(), self._where())

    def _where(self) -> sql.Composable:
        return sql.SQL(" where ") + sql.SQL(" and ").join(self.where) if self.where else sql.SQL("")


def parse(report: ApiReport, items: list[tuple[str, str]]) -> ReportQuery:
    """The query for `report` from the query string's (name, value) pairs, in order."""
    query = ReportQuery(report)
    equal: dict[str, list[object]] = {}
    for name, value in items:
        if name == "limit":
            query.limit = _bounded_int(name, value, 1, MAX_LIMIT)
        elif name == "offset":
            query.offset = _bounded_int(name, value, 0, MAX_OFFSET)
        elif name == "format":
            if value not in FORMATS:
                raise BadRequest(f"format={value!r}: use one of {', '.join(FORMATS)}")
            query.format = value
        elif name == "order":
            query.order = [_order(report, part) for part in value.split(",") if part.strip()]
        else:
            column_name, _, op = name.partition("__")
            column = _column(report, column_name)
            if not op:
                equal.setdefault(column.name, []).append(_value(column, value))
            elif op in RANGES and column.kind in RANGE_KINDS:
                query.where.append(sql.SQL("{} {} %s").format(sql.Identifier(column.name),
                                                               sql.SQL(RANGES[op])))
                query.params.append(_value(column, value))
            else:
                ranges = ", ".join(f"__{op}" for op in RANGES)
                raise BadRequest(
                    f"{name}: {op!r} is not a filter on {column.name} ({column.kind}). "
                    f"Use {column.name}=value, or {ranges} on numbers, dates and times")
    for name, values in equal.items():
        # Text, and the types read as text (inet, interval, ...), compare as text.
        template = "{}::text = any(%s)" if report.column(name).kind == "text" else "{} = any(%s)"
        query.where.append(sql.SQL(template).format(sql.Identifier(name)))
        query.params.append(values)
    return query


def _column(report: ApiReport, name: str) -> Column:
    column = report.column(name)
    if column is None:
        raise BadRequest(f"{report.name} has no column {name!r}; its columns: "
                         f"{', '.join(c.name for c in report.columns)}")
    return column


def _order(report: ApiReport, part: str) -> sql.Composable:
    part = part.strip()
    descending = part.startswith("-")
    column = _column(report, part.lstrip("-"))
    return sql.SQL("{} {}").format(sql.Identifier(column.name),
                                   sql.SQL("desc nulls last" if descending else "asc nulls first"))


def _bounded_int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a whole number") from None
    if not low <= number <= high:
        raise BadRequest(f"{name}={number} is out of range: {low} to {high:,}")
    return number


def _value(column: Column, text: str) -> object:
    """`text` as a value of `column`'s kind, or a BadRequest saying what was expected."""
    try:
        if column.kind == "integer":
            return int(text)
        if column.kind == "number":
            number = Decimal(text)
            if not number.is_finite():
                raise ValueError
            return number
        if column.kind == "date":
            return dt.date.fromisoformat(text)
        if column.kind == "timestamp":
            return dt.datetime.fromisoformat(text)
        if column.kind == "boolean":
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError
    except (ValueError, InvalidOperation):
        expected = {"integer": "a whole number", "number": "a number",
                    "date": "a date (YYYY-MM-DD)", "boolean": "true or false",
                    "timestamp": "a time (YYYY-MM-DDTHH:MM:SS, optionally +00:00)"}[column.kind]
        raise BadRequest(f"{column.name}={text!r} is not {expected}") from None
    return text
