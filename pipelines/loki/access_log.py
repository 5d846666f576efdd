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
_TIMES = r' (?P<request_time>\d+(?:\.\d+)?|-)(?: (?P<upstream_time>[\d.,: ]*\d|-))?'
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
_COMPILED = {name: re.compile(f"^{pattern}\\s*$") for name, pattern in FORMATS.items()}
_REQUEST = re.compile(r"^(?P<method>[A-Z][A-Z_-]*) (?P<target>\S+)(?: (?P<protocol>[A-Z]+/[\d.]+))?$")
_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
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
    try:
        requested_at = _request_time(groups["time"].strip())
    except ValueError:
        return None, f"bad_time: {groups['time']!r} is not dd/Mon/yyyy:HH:MM:SS +zone"
    request = _unquote(groups.get("request") or "")
    parts = _REQUEST.match(request)
    target = parts["target"] if parts else None
    path, _, query = (target or "").partition("?")
    try:
        status = int(groups["status"])
        size = groups.get("bytes")
        request_time = groups.get("request_time")
        upstream = groups.get("upstream_time")
        fields = {
            "log_format": name,
            "client_ip": groups["client_ip"],
            "ident": _dash(groups.get("ident")),
            "remote_user": _dash(groups.get("user")),
            "requested_at": requested_at,
            "request": request,
            "method": parts["method"] if parts else None,
            "target": target,
            "path": path or None,
            "query_string": query or None,
            "protocol": parts["protocol"] if parts else None,
            "status": status,
            "bytes": int(size) if size not in (None, "-") else None,
            "referrer": _dash(_unquote(groups.get("referrer"))),
            "user_agent": _dash(_unquote(groups.get("user_agent"))),
            # the first address is the client's; proxies append theirs
            "forwarded_for": _dash((groups.get("forwarded_for") or "").split(",")[0].strip()),
            "request_time_s": float(request_time) if request_time not in (None, "-") else None,
            # several upstreams ("0.004, 0.010" or "0.004 : 0.010"): the time of the last
            "upstream_time_s": (float(re.split(r"[,:]\s*", upstream.strip())[-1])
                                if upstream not in (None, "-") else None),
            "host": _dash(groups.get("host")),
        }
    except (TypeError, ValueError) as err:
        return None, f"bad_number: {err}"
    if not 100 <= status <= 599:
        return None, f"bad_status: {status}"
    return fields, None


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
    for name, pattern in parse.patterns:
        if not rest.num_rows:
            break
        found = pc.extract_regex(rest["line"].combine_chunks(), pattern.pattern)
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

    requested_at = pc.strptime(pc.utf8_trim_whitespace(group("time")), format=_TIME_FORMAT,
                               unit="us", error_is_null=True)
    status = pc.cast(group("status"), pa.int16())
    ok = pc.and_(pc.is_valid(requested_at), pc.and_(pc.greater_equal(status, 100),
                                                    pc.less_equal(status, 599)))
    request = unquote(group("request"))
    parts = pc.extract_regex(request, _REQUEST.pattern)
    target = _field_or_null(parts, "target")
    split = pc.extract_regex(target, r"^(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
    size = dash(group("bytes"))
    upstream = pc.extract_regex(dash(group("upstream_time")), r"(?P<last>\d+(?:\.\d+)?)\s*$")
    first_forwarded = pc.extract_regex(group("forwarded_for"), r"^\s*(?P<first>[^,\s]+)")
    table = pa.table({
        "line_id": rows["line_id"], "ts_ns": rows["ts_ns"],
        "log_format": pa.array([name] * len(found), pa.string()),
        "client_ip": group("client_ip"), "ident": dash(group("ident")),
        "remote_user": dash(group("user")),
        "requested_at": pc.cast(requested_at, pa.timestamp("us", tz="UTC")),
        "request": request, "method": _field_or_null(parts, "method"), "target": target,
        "path": dash(_field_or_null(split, "path")), "query_string": dash(_field_or_null(split, "query")),
        "protocol": _field_or_null(parts, "protocol"), "status": status,
        "bytes": pc.cast(size, pa.int64()),
        "referrer": dash(unquote(group("referrer"))), "user_agent": dash(unquote(group("user_agent"))),
        "forwarded_for": dash(_field_or_null(first_forwarded, "first")),
        "request_time_s": pc.cast(dash(group("request_time")), pa.float64()),
        "upstream_time_s": pc.cast(_field_or_null(upstream, "last"), pa.float64()),
        "host": dash(group("host")),
    }, schema=REQUEST_SCHEMA)
    bad_time = pc.is_null(requested_at)
    reasons = pc.if_else(bad_time, pc.binary_join_element_wise(
        "bad_time: '", pc.utf8_trim_whitespace(group("time")),
        "' is not dd/Mon/yyyy:HH:MM:SS +zone", ""), pc.binary_join_element_wise(
        "bad_status: ", pc.cast(status, pa.string()), ""))
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
