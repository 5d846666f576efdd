"""The portal's pages: one page per report (its chart, a table to sort, filter and page
through, the downloads, a link to its dbt docs) and the index of every report by subject.

What a report's page shows is declared with its dbt model, under `meta.portal`:

    config:
      meta:
        portal:
          title: Crimes per day, with 7- and 28-day averages
          chart: {type: line, x: crime_date, y: [crime_count, moving_avg_7d]}

Chart types: `line` (x, y: one or more columns, optional `series`: a column whose values
are the lines), `bar` (x: the labels, y: the value, `top`: how many, optional `facet`:
one chart per value of a column), `histogram` (y, `bins`, `unit`) and `map` (layer:
community_area or zip_code, key: the column holding the area, y: the value, `unit`).
Rows that share an x (and series, or area) are summed, or averaged with `agg: mean`.
`chart` may be a list: a page shows each chart in turn. `order` (columns, "-" for
descending) is the report's own order, in which `pulse demo` prints its first rows.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pulse import charts, maps

SUBJECTS = {"chicago": "Chicago", "countries": "Countries", "events": "Product events",
            "logs": "Search crawl"}
TABLE_ROWS = 5_000  # rows a page carries for its table; the downloads have them all
DOCS_ENV = "PULSE_DBT_DOCS_URL"  # where `pulse docs` serves the dbt docs
DEFAULT_DOCS_URL = "http://127.0.0.1:8080"


def subject_of(name: str) -> str:
    """rpt_chicago__x -> Chicago."""
    key = name.removeprefix("rpt_").split("__", 1)[0]
    return SUBJECTS.get(key, key.replace("_", " ").title())


def docs_link(unique_id: str) -> str:
    base = os.environ.get(DOCS_ENV, DEFAULT_DOCS_URL).rstrip("/")
    return f"{base}/#!/model/{unique_id}"


def number(value: Any) -> float | None:
    """A chartable number of a cell (int, float, numeric), or None: NULL, NaN, text, bool."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        as_float = float(value)
        return as_float if as_float == as_float else None
    return None


def _label(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def chart_svgs(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
               names: Sequence[str], rows: Sequence[tuple], title: str,
               areas: Callable[[str], Mapping[str, maps.Area]] | None = None) -> list[str]:
    """The SVG charts `spec` asks for (one spec or a list), drawn from `rows` (columns
    `names`); `areas(layer)` gives a map's outlines (pulse/maps.py)."""
    if not spec:
        return []
    if not isinstance(spec, Mapping):
        return [svg for one in spec for svg in chart_svgs(one, names, rows, title, areas)]
    index = {name: i for i, name in enumerate(names)}
    missing = [c for c in (spec.get("x"), *_ys(spec), spec.get("series"), spec.get("facet"),
                           spec.get("key"))
               if c and c not in index]
    if missing:
        raise ValueError(f"meta.portal.chart names columns the report does not have: "
                         f"{', '.join(missing)}")
    kind = spec.get("type")
    if kind == "line":
        return [_figure(_caption(spec), _line(spec, index, rows, title))]
    if kind == "bar":
        facet = spec.get("facet")
        if not facet:
            return [_figure(_caption(spec), _bars(spec, index, rows, title))]
        groups: dict[Any, list[tuple]] = defaultdict(list)
        for row in rows:
            groups[row[index[facet]]].append(row)
        return [_figure(f"{facet} = {_label(value)}",
                        _bars(spec, index, group, f"{title}: {_label(value)}"))
                for value, group in sorted(groups.items(), key=lambda kv: _label(kv[0]))]
    if kind == "histogram":
        column = _ys(spec)[0]
        values = [number(row[index[column]]) for row in rows]
        return [_figure(f"How {column} is spread: rows per range",
                        charts.histogram(title, values, bins=int(spec.get("bins", 20)),
                                         unit=str(spec.get("unit", ""))))]
    if kind == "map":
        return [_figure(_caption(spec), _map(spec, index, rows, title, areas))]
    raise ValueError(f"meta.portal.chart type {kind!r}: use line, bar, histogram or map")


def _caption(spec: Mapping[str, Any]) -> str:
    """What the chart shows, in the columns' names: "crime_count by crime_date"."""
    measure = "rows" if spec.get("agg") == "count" else ", ".join(_ys(spec))
    how = {"mean": "mean of ", "count": ""}.get(spec.get("agg", ""), "")
    if spec.get("type") == "map":
        layer = str(spec.get("layer", "")).replace("_", " ")
        return f"{how}{measure} by {layer}, all rows of each (hover an area for its value)"
    per = f" by {spec['x']}" + (f" and {spec['series']}" if spec.get("series") else "")
    window = f", the last {spec['last']}" if spec.get("last") else ""
    top = f", the top {spec.get('top', 15)}" if spec.get("type") == "bar" else ""
    return f"{how}{measure}{per}{window}{top}"


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{html.escape(caption)}</figcaption>{svg}</figure>"


def _ys(spec: Mapping[str, Any]) -> list[str]:
    y = spec.get("y") or []
    return [y] if isinstance(y, str) else list(y)


def _combine(values: list[float], how: str) -> float:
    return sum(values) / len(values) if how == "mean" else sum(values)  # sum, count


def _measures(spec: Mapping[str, Any], index: Mapping[str, int], row: tuple
              ) -> list[tuple[str, float | None]]:
    """(name, value) of each measure of `row`: its y columns, or 1 for `agg: count`."""
    if spec.get("agg") == "count":
        return [("rows", 1.0)]
    return [(y, number(row[index[y]])) for y in _ys(spec)]


def _line(spec, index, rows, title) -> str:
    x, series_col, how = spec["x"], spec.get("series"), spec.get("agg", "sum")
    cells: dict[tuple[Any, str], list[float]] = defaultdict(list)
    for row in rows:
        for y, value in _measures(spec, index, row):
            if value is not None:
                name = _label(row[index[series_col]]) if series_col else y
                cells[(row[index[x]], name)].append(value)
    xs = sorted({key for key, _ in cells}, key=lambda v: (v is None, v))
    if spec.get("last"):  # a long daily series reads better as its recent part
        xs = xs[-int(spec["last"]):]
    if series_col:  # the largest series first, at most `series_top` of them
        totals: dict[str, float] = defaultdict(float)
        for (_, name), values in cells.items():
            totals[name] += sum(values)
        names = sorted(totals, key=lambda name: -totals[name])[: int(spec.get("series_top", 8))]
    else:
        names = [name for name, _ in _measures(spec, index, rows[0])] if rows else []
    series = {name: [_combine(cells[(v, name)], how) if cells.get((v, name)) else None
                     for v in xs] for name in names}
    return charts.line_chart(title, [_label(v) for v in xs], series)


def _bars(spec, index, rows, title) -> str:
    x, how = spec["x"], spec.get("agg", "sum")
    totals: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        _, value = _measures(spec, index, row)[0]
        if value is not None:
            totals[_label(row[index[x]])].append(value)
    ranked = sorted(((label, _combine(v, how)) for label, v in totals.items()),
                    key=lambda kv: -kv[1])[: int(spec.get("top", 15))]
    return charts.bar_chart(title, [label for label, _ in ranked], [v for _, v in ranked])


def _map(spec, index, rows, title, areas) -> str:
    layer, key, how = spec.get("layer"), spec.get("key"), spec.get("agg", "sum")
    if layer not in maps.LAYERS or not key:
        raise ValueError(f"meta.portal.chart type map needs layer ({' or '.join(maps.LAYERS)}) "
                         "and key (the column holding the area's number or ZIP code)")
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        _, value = _measures(spec, index, row)[0]
        code = maps.area_key(row[index[key]])
        if value is not None and code is not None:
            values[code].append(value)
    shapes = areas(layer) if areas else {}
    return maps.choropleth(title, shapes, {k: _combine(v, how) for k, v in values.items()},
                           unit=str(spec.get("unit", "")))


# --- pages --------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 72rem; margin: 1.5rem auto;
       padding: 0 1rem; color: #1d2433; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
a { color: #0b5cad; } .meta { color: #566074; margin: .25rem 0 .75rem; }
.chart { width: 100%; height: auto; display: block; margin: .25rem 0; }
.chart.map { width: auto; max-width: 100%; max-height: 36rem; }
figure { margin: 1rem 0; } figcaption { color: #566074; font-size: 13px; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1rem;
          font-size: 13px; color: #566074; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem;
               vertical-align: -1px; }
.files a { margin-right: .75rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .3rem .6rem .3rem 0; border-bottom: 1px solid #eef0f4;
         vertical-align: top; white-space: nowrap; }
th { cursor: pointer; user-select: none; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
input[type=search] { font: inherit; padding: .35rem .5rem; width: min(24rem, 100%);
                     border: 1px solid #c5ccd8; border-radius: 4px; }
.pager button { font: inherit; margin: .5rem .25rem 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; }
.cards.wide { grid-template-columns: repeat(auto-fill, minmax(min(30rem, 100%), 1fr)); }
.card { border: 1px solid #d8dde6; border-radius: 6px; padding: .75rem 1rem; }
.card h3 { font-size: 1rem; margin: 0 0 .25rem; } .card p { margin: .25rem 0; font-size: 14px; }
code { font: 13px ui-monospace, monospace; }
footer { color: #566074; font-size: 13px; border-top: 1px solid #d8dde6; margin-top: 2rem;
         padding-top: 1rem; }
"""

# Sort (click a header), filter (the search box) and page through the rows the page
# carries, without a library. The rows come from a JSON block, never from HTML.
TABLE_JS = """
(function () {
  var data = JSON.parse(document.getElementById('rows').textContent);
  var names = data.columns, rows = data.rows, numeric = data.numeric;
  var body = document.querySelector('#table tbody'), info = document.getElementById('info');
  var filter = document.getElementById('filter'), page = 0, size = 50, key = -1, asc = true;
  function shown() {
    var q = filter.value.toLowerCase(), out = rows.filter(function (r) {
      return !q || r.some(function (v) { return v !== null && String(v).toLowerCase().indexOf(q) >= 0; });
    });
    if (key >= 0) out.sort(function (a, b) {
      var x = a[key], y = b[key];
      if (x === y) return 0; if (x === null) return 1; if (y === null) return -1;
      return (numeric[key] ? x - y : String(x).localeCompare(String(y))) * (asc ? 1 : -1);
    });
    return out;
  }
  function draw() {
    var out = shown(), last = Math.max(0, Math.ceil(out.length / size) - 1);
    page = Math.min(page, last);
    body.innerHTML = '';
    out.slice(page * size, page * size + size).forEach(function (r) {
      var tr = document.createElement('tr');
      r.forEach(function (v, i) {
        var td = document.createElement('td');
        td.textContent = v === null ? '' : v;
        if (numeric[i]) td.className = 'n';
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    var end = Math.min(out.length, page * size + size);
    info.textContent = out.length ? 'rows ' + (page * size + 1) + '-' + end + ' of ' + out.length
      : 'no rows match';
  }
  document.querySelectorAll('#table th').forEach(function (th, i) {
    th.addEventListener('click', function () { asc = key === i ? !asc : true; key = i; draw(); });
  });
  filter.addEventListener('input', function () { page = 0; draw(); });
  document.getElementById('prev').addEventListener('click', function () {
    page = Math.max(0, page - 1); draw();
  });
  document.getElementById('next').addEventListener('click', function () { page += 1; draw(); });
  draw();
})();
"""


def page(title: str, body: str, script: str = "") -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
{body}
{f"<script>{script}</script>" if script else ""}
</body>
</html>
"""


def _json_cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if number == number and abs(number) != float("inf") else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def render_report_page(*, name: str, title: str, description: str, unique_id: str | None,
                       names: Sequence[str], types: Sequence[str], rows: Sequence[tuple],
                       files: Mapping[str, str], refreshed_at: str, svgs: Sequence[str]) -> str:
    """A report's page: title, what it is, its chart(s), its table and its downloads."""
    e = html.escape
    carried = rows[:TABLE_ROWS]
    numeric = [any(isinstance(r[i], int | float | Decimal) and not isinstance(r[i], bool)
                   for r in carried[:200]) for i in range(len(names))]
    data = json.dumps({"columns": list(names), "numeric": numeric,
                       "rows": [[_json_cell(v) for v in row] for row in carried]},
                      ensure_ascii=False).replace("<", "\\u003c")
    downloads = " ".join(f'<a href="{e(file)}">{e(fmt.upper())}</a>' for fmt, file in files.items())
    docs = (f' &middot; <a href="{e(docs_link(unique_id))}">model docs and lineage</a>'
            if unique_id else "")
    more = (f"<p class=\"meta\">The table holds the first {TABLE_ROWS:,} of {len(rows):,} rows; "
            "the downloads hold them all.</p>" if len(rows) > TABLE_ROWS else "")
    header = "".join(f'<th title="{e(t)}">{e(n)}</th>' for n, t in zip(names, types, strict=True))
    body = f"""<p><a href="index.html">All reports</a> &middot; {e(subject_of(name))}</p>
<h1>{e(title)}</h1>
<p>{e(description)}</p>
<p class="meta">{len(rows):,} rows &middot; refreshed
<time datetime="{e(refreshed_at)}">{e(refreshed_at[:19].replace("T", " "))} UTC</time>
&middot; <code>{e(name)}</code>{docs}</p>
<p class="files">Download: {downloads}</p>
{"".join(svgs)}
<h2>Rows</h2>
<p><input type="search" id="filter" placeholder="Filter rows" aria-label="Filter rows"></p>
{more}
<div class="scroll"><table id="table"><thead><tr>{header}</tr></thead><tbody></tbody></table></div>
<p class="pager"><button id="prev" type="button">Previous</button>
<button id="next" type="button">Next</button> <span id="info" class="meta"></span></p>
<script type="application/json" id="rows">{data}</script>"""
    return page(f"{title} - Pulse reports", body, TABLE_JS)
