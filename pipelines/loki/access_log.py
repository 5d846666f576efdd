"""Web server access-log lines as typed requests: Apache and nginx `common` and `combined`,
and their usual extensions, by format name or by a regular expression of your own.

| format | a line |
|---|---|
| `common` | `host ident user [time] "request" status bytes` |
| `combined` | common + `"referrer" "user agent"` |
| `combined_xff` | combined + `"X-Forwarded-For"` (nginx's `$http_x_forwarded_for`) |
| `combined_rt` | combined + `request_time [upstream_response_time]` (nginx, seconds) |
| `combined_xff_rt` | combined_xff + the times |
| `vhost_combined`, `vhost_common` | the virtual host first (Apache's `%v`, with or without `:port`) |
| `auto` | each of the above, longest first |

A pattern of your own is a Python regular expression with named groups, among them at
least `client_ip`, `time` and `request` (and `status`); the others (`bytes`, `referrer`,
`user_agent`, `forwarded_for`, `request_time`, `upstream_time`, `host`, `ident`, `user`)
are optional. A line that matches no format, or whose time or numbers do not read, is a
reject with its reason: it is kept, never dropped.

Each line is parsed two ways that must agree (tests/sample_api/test_weblogs.py): a page at
a time with Arrow's RE2, what loads run, and line by line in Python, for a pattern of your
own. So the patterns below keep to what both engines read alike: ASCII classes, and a time
checked by one strict pattern before it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

_Q = r'(?:[^"\\]|\\.)*'  # the inside of a quoted field, escapes included
_COMMON = (r'(?P<client_ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] '
           rf'"(?P<request>{_Q})" (?P<status>\d{{3}}) (?P<bytes>\d+|-)')
_AGENT = rf' "(?P<referrer>{_Q})" "(?P<user_agent>{_Q})"'
_XFF = rf' "(?P<forwarded_for>{_Q})"'
_SECONDS = r'(?:\d{1,9}(?:\.\d{1,9})?|-)'
# nginx's $upstream_response_time lists one time per upstream tried ("0.004, 0.010", or
# "0.004 : 0.010" across internal redirects), "-" for one that never answered
_TIMES = (rf' (?P<request_time>{_SECONDS})'
          rf'(?: (?P<upstream_time>{_SECONDS}(?: ?[,:] {_SECONDS})*))?')
_VHOST = r'(?P<host>[^\s:"]+)(?::\d+)? '

FORMATS: dict[str, str] = {
    "combined_xff_rt": _COMMON + _AGENT + _XFF + _TIMES,
    "combined_xff": _COMMON + _AGENT + _XFF,
    "combined_rt": _COMMON + _AGENT + _TIMES,
    "vhost_combined": _VHOST + _COMMON + _AGENT,
    "combined": _COMMON + _AGENT,
    "vhost_common": _VHOST + _COMMON,
    "common": _COMMON,
}


def _python(pattern: str) -> re.Pattern:
    """A pattern as RE2 reads it, in Python: ASCII classes (RE2's \\s has no \\v), and an
    end that is the end of the text (Python's `$` also matches before a final newline)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        step = 2 if pattern[i] == "\\" else 1  # an escape is one token
        token = pattern[i:i + step]
        if token == r"\s":
            token = _RE2_SPACE if in_class else f"[{_RE2_SPACE}]"
        elif token == r"\S" and not in_class:
            token = f"[^{_RE2_SPACE}]"
        elif token == "[" and not in_class or token == "]" and in_class:
            in_class = not in_class
        out.append(token)
        i += step
    python = "".join(out)
    if python.endswith("$"):
        python = python[:-1] + r"\Z"
    return re.compile(python, re.ASCII)


_RE2_SPACE = r"\t\n\f\r "


_RE2 = {name: f"^{pattern}\\s*$" for name, pattern in FORMATS.items()}
_COMPILED = {name: _python(pattern) for name, pattern in _RE2.items()}
_REQUEST_RE2 = r"^(?P<method>[A-Z][A-Z_-]*) (?P<target>\S+)(?: (?P<protocol>[A-Z]+/[\d.]+))?$"
_REQUEST = _python(_REQUEST_RE2)
_FIRST_FORWARDED_RE2 = r"^\s*(?P<first>[^,\s]+)"  # proxies append theirs after the client's
_FIRST_FORWARDED = _python(_FIRST_FORWARDED_RE2)
_LAST_UPSTREAM_RE2 = r"(?P<last>\d+(?:\.\d+)?|-)$"
_LAST_UPSTREAM = _python(_LAST_UPSTREAM_RE2)
# Both readers of a date (strptime's) take some impossible ones (Arrow's reads 31/Feb as
# 3/Mar), so a time must first match this; then a date that still does not exist is caught
# by reading it back.
_TIME_RE2 = (r"^\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}"
             r":(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d [+-](?:[01]\d|2[0-3])[0-5]\d$")
_TIME = _python(_TIME_RE2)
_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
MAX_DIGITS = 18  # a byte count past this is not one (and would not fit a bigint)
REQUIRED_GROUPS = {"client_ip", "time", "request", "status"}


class LogFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Parser:
    """One configured format: `parse(line)` gives (fields, None) or (None, reason)."""
    name: str
    patterns: tuple[tuple[str, re.Pattern], ...]

    def parse(self, line: str) -> tuple[dict | None, str | None]:
        for name, pattern in self.patterns:
            match = pattern.match(line)
            if match:
                return _fields(name, match.groupdict())
        tried = ", ".join(name for name, _ in self.patterns)
        return None, f"no_format_matched: the line is not {tried}"


def parser(log_format: str) -> Parser:
    """The parser of a format name (FORMATS, or `auto`) or of a regular expression."""
    if log_format == "auto":
        return Parser("auto", tuple(_COMPILED.items()))
    if log_format in _COMPILED:
        return Parser(log_format, ((log_format, _COMPILED[log_format]),))
    if "(?P<" not in log_format:  # no named group: a misspelt name, not a pattern
        raise LogFormatError(f"unknown log_format {log_format!r}: use one of "
                             f"{', '.join([*FORMATS, 'auto'])}, or a regular expression with "
                             "named groups; set SOURCES__LOKI__LOG_FORMAT")
    try:
        pattern = re.compile(log_format)
    except re.error as err:
        raise LogFormatError(
            f"log_format {log_format!r} is neither a format name ({', '.join([*FORMATS, 'auto'])}) "
            f"nor a regular expression ({err}); set SOURCES__LOKI__LOG_FORMAT") from None
    missing = REQUIRED_GROUPS - set(pattern.groupindex)
    if missing:
        raise LogFormatError(f"the log_format pattern lacks the named group(s) "
                             f"{', '.join(sorted(missing))}: (?P<client_ip>...), (?P<time>...), "
                             "(?P<request>...) and (?P<status>...) are needed")
    return Parser("pattern", (("pattern", pattern),))


def _fields(name: str, groups: dict) -> tuple[dict | None, str | None]:
    time = groups["time"]
    try:
        if not _TIME.match(time):
            raise ValueError(time)
        requested_at = _request_time(time)
    except ValueError:
        return None, bad_time(time)
    request = _unquote(groups.get("request") or "")
    parts = _REQUEST.match(request)
    target = parts["target"] if parts else None
    path, _, query = (target or "").partition("?")
    size = groups.get("bytes")
    if size is not None and len(size) > MAX_DIGITS:
        return None, bad_bytes(size)
    upstream = _dash(groups.get("upstream_time"))
    last_upstream = _LAST_UPSTREAM.search(upstream or "")
    forwarded = _FIRST_FORWARDED.match(groups.get("forwarded_for") or "")
    try:
        status = int(groups["status"])
        request_time = groups.get("request_time")
        fields = {
            "log_format": name,
            "client_ip": groups["client_ip"],
            "ident": _dash(groups.get("ident")),
            "remote_user": _dash(groups.get("user")),
            "requested_at": requested_at,
            "request": request,
            "method": parts["method"] if parts else None,
            "target": target,
            "path": path or None,  # "-" is a path like any other; only empty is none
            "query_string": query or None,
            "protocol": parts["protocol"] if parts else None,
            "status": status,
            "bytes": int(size) if size not in (None, "-") else None,
            "referrer": _dash(_unquote(groups.get("referrer"))),
            "user_agent": _dash(_unquote(groups.get("user_agent"))),
            "forwarded_for": _dash(forwarded["first"] if forwarded else None),
            "request_time_s": float(request_time) if request_time not in (None, "-") else None,
            # several upstreams: the time of the last, the one that answered
            "upstream_time_s": (float(last_upstream["last"])
                                if last_upstream and last_upstream["last"] != "-" else None),
            "host": _dash(groups.get("host")),
        }
    except (TypeError, ValueError) as err:
        return None, f"bad_number: {err}"
    if not 100 <= status <= 599:
        return None, f"bad_status: {status}"
    return fields, None


# A reason's text around the value, shared with the Arrow parser so both write the same.
_BAD_TIME = ("bad_time: '", "' is not dd/Mon/yyyy:HH:MM:SS +hhmm")
_BAD_BYTES = ("bad_number: bytes '", f"' has more than {MAX_DIGITS} digits")


def bad_time(time: str) -> str:
    return time.join(_BAD_TIME)


def bad_bytes(size: str) -> str:
    return size.join(_BAD_BYTES)


@lru_cache(maxsize=8192)
def _request_time(text: str) -> datetime:
    """A log's `[10/Oct/2000:13:55:36 -0700]` in UTC. Cached: a busy server writes many
    lines a second, and strptime is most of a line's parse."""
    return datetime.strptime(text, _TIME_FORMAT).astimezone(UTC)


def _dash(value: str | None) -> str | None:
    """`-` is how both servers write "none"."""
    return None if value in (None, "", "-") else value


def _unquote(value: str | None) -> str | None:
    return None if value is None else value.replace('\\"', '"').replace("\\\\", "\\")


# -- a page at a time, in Arrow (RE2, no Python per line) ----------------------------------

def parse_page(page: pa.Table, parse: Parser) -> tuple[pa.Table, pa.Table]:
    """(requests, rejects) of a page with `line_id`, `ts_ns` and `line` columns: the same
    fields and reasons as `Parser.parse`, computed column-wise with Arrow's RE2 for the
    named formats (4x the per-line parser); a pattern of your own runs line by line, since
    it may use Python-only syntax."""
    if parse.name == "pattern":
        return _parse_lines(page, parse)
    requests, rejects, rest = [], [], page
    for name, _ in parse.patterns:
        if not rest.num_rows:
            break
        found = pc.extract_regex(rest["line"].combine_chunks(), _RE2[name])
        matched = pc.is_valid(found)
        if pc.any(matched).as_py():
            fields, bad = _fields_of(name, rest.filter(matched), found.filter(matched))
            requests.append(fields)
            rejects.append(bad)
        rest = rest.filter(pc.invert(matched))
    tried = ", ".join(name for name, _ in parse.patterns)
    rejects.append(_rejects(rest, f"no_format_matched: the line is not {tried}"))
    return (pa.concat_tables(requests) if requests else REQUEST_SCHEMA.empty_table(),
            pa.concat_tables(rejects))


def _fields_of(name: str, rows: pa.Table, found: pa.StructArray) -> tuple[pa.Table, pa.Table]:
    def group(field: str) -> pa.Array:
        if found.type.get_field_index(field) < 0:
            return pa.nulls(len(found), pa.string())
        return found.field(field)

    def dash(values: pa.Array) -> pa.Array:
        return pc.if_else(pc.is_in(values, value_set=pa.array(["-", ""])), None, values)

    def unquote(values: pa.Array) -> pa.Array:
        return pc.replace_substring(pc.replace_substring(values, '\\"', '"'), "\\\\", "\\")

    def empty_null(values: pa.Array) -> pa.Array:
        return pc.if_else(pc.equal(values, ""), None, values)

    def true(mask: pa.Array) -> pa.Array:
        return pc.fill_null(mask, False)

    time = group("time")
    # the strict shape, then strptime, then the date read back (Arrow takes 31/Feb as 3/Mar)
    shaped = pc.if_else(true(pc.match_substring_regex(time, _TIME_RE2)), time, None)
    # Read once per distinct time and day (a page holds a few minutes: many lines share a
    # second), then spread back to the lines: the same values, a fraction of the work.
    times = pc.unique(shaped)
    requested_at = pc.take(pc.strptime(times, format=_TIME_FORMAT, unit="us", error_is_null=True),
                           pc.index_in(shaped, value_set=times))
    day = pc.utf8_slice_codeunits(shaped, 0, 11)
    days = pc.unique(day)
    days_read_back = pc.strftime(pc.strptime(days, format="%d/%b/%Y", unit="s", error_is_null=True),
                                 format="%d/%b/%Y")
    day_read_back = pc.take(days_read_back, pc.index_in(day, value_set=days))
    wrong_time = pc.invert(true(pc.and_(pc.is_valid(requested_at), pc.equal(day_read_back, day))))
    size = dash(group("bytes"))
    wrong_size = true(pc.greater(pc.utf8_length(size), MAX_DIGITS))
    status = pc.cast(group("status"), pa.int16())
    wrong_status = pc.invert(pc.and_(pc.greater_equal(status, 100), pc.less_equal(status, 599)))
    ok = pc.invert(pc.or_(pc.or_(wrong_time, wrong_size), wrong_status))
    request = unquote(group("request"))
    parts = pc.extract_regex(request, _REQUEST_RE2)
    target = _field_or_null(parts, "target")
    split = pc.extract_regex(target, r"^(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
    upstream = pc.extract_regex(dash(group("upstream_time")), _LAST_UPSTREAM_RE2)
    first_forwarded = pc.extract_regex(group("forwarded_for"), _FIRST_FORWARDED_RE2)
    table = pa.table({
        "line_id": rows["line_id"], "ts_ns": rows["ts_ns"],
        "log_format": pa.array([name] * len(found), pa.string()),
        "client_ip": group("client_ip"), "ident": dash(group("ident")),
        "remote_user": dash(group("user")),
        "requested_at": pc.cast(requested_at, pa.timestamp("us", tz="UTC")),
        "request": request, "method": _field_or_null(parts, "method"), "target": target,
        "path": empty_null(_field_or_null(split, "path")),
        "query_string": empty_null(_field_or_null(split, "query")),
        "protocol": _field_or_null(parts, "protocol"), "status": status,
        "bytes": pc.cast(pc.if_else(wrong_size, None, size), pa.int64()),
        "referrer": dash(unquote(group("referrer"))), "user_agent": dash(unquote(group("user_agent"))),
        "forwarded_for": dash(_field_or_null(first_forwarded, "first")),
        "request_time_s": pc.cast(dash(group("request_time")), pa.float64()),
        "upstream_time_s": pc.cast(dash(_field_or_null(upstream, "last")), pa.float64()),
        "host": dash(group("host")),
    }, schema=REQUEST_SCHEMA)
    # the reasons Parser.parse gives, in its order: time, then bytes, then status
    reasons = pc.if_else(
        wrong_time, pc.binary_join_element_wise(_BAD_TIME[0], time, _BAD_TIME[1], ""),
        pc.if_else(wrong_size, pc.binary_join_element_wise(_BAD_BYTES[0], size, _BAD_BYTES[1], ""),
            pc.binary_join_element_wise("bad_status: ", pc.cast(status, pa.string()), "")))
    bad = rows.filter(pc.invert(ok))
    rejects = pa.table({"line_id": bad["line_id"], "ts_ns": bad["ts_ns"],
                        "reason": reasons.filter(pc.invert(ok)), "line": bad["line"]},
                       schema=REJECT_SCHEMA)
    return table.filter(ok), rejects


def _field_or_null(found: pa.Array, field: str) -> pa.Array:
    """A group of an extract_regex result; null where the pattern did not match."""
    values = pc.struct_field(found, field) if len(found) else pa.array([], pa.string())
    return pc.if_else(pc.is_valid(found), values, None)


def _rejects(rows: pa.Table, reason: str) -> pa.Table:
    return pa.table({"line_id": rows["line_id"], "ts_ns": rows["ts_ns"],
                     "reason": pa.array([reason] * rows.num_rows, pa.string()),
                     "line": rows["line"]}, schema=REJECT_SCHEMA)


def _parse_lines(page: pa.Table, parse: Parser) -> tuple[pa.Table, pa.Table]:
    parsed, rejected = [], []
    for key, ts, line in zip(page["line_id"].to_pylist(), page["ts_ns"].to_pylist(),
                             page["line"].to_pylist(), strict=True):
        fields, reason = parse.parse(line)
        if fields is None:
            rejected.append({"line_id": key, "ts_ns": ts, "reason": reason, "line": line})
        else:
            parsed.append({"line_id": key, "ts_ns": ts, **fields})
    return (pa.Table.from_pylist(parsed, schema=REQUEST_SCHEMA),
            pa.Table.from_pylist(rejected, schema=REJECT_SCHEMA))


_TS_US = pa.timestamp("us", tz="UTC")
REQUEST_SCHEMA = pa.schema([
    ("line_id", pa.string()), ("ts_ns", pa.int64()), ("log_format", pa.string()),
    ("client_ip", pa.string()), ("ident", pa.string()), ("remote_user", pa.string()),
    ("requested_at", _TS_US), ("request", pa.string()), ("method", pa.string()),
    ("target", pa.string()), ("path", pa.string()), ("query_string", pa.string()),
    ("protocol", pa.string()), ("status", pa.int16()), ("bytes", pa.int64()),
    ("referrer", pa.string()), ("user_agent", pa.string()), ("forwarded_for", pa.string()),
    ("request_time_s", pa.float64()), ("upstream_time_s", pa.float64()), ("host", pa.string()),
])
REJECT_SCHEMA = pa.schema([("line_id", pa.string()), ("ts_ns", pa.int64()),
                           ("reason", pa.string()), ("line", pa.string())])
