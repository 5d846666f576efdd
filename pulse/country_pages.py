"""The portal's country section, in NationPulse's shape: a dashboard (`countries/index.html`:
the top countries by population, life expectancy, GDP and GDP per capita, and every
country to search) and a page per country (`countries/<ISO3>.html`: population, health
and economy over the years, its CSV beside it). Written with the country CSVs, from the
same snapshot (pulse/country_reports.py); charts are SVG drawn here (pulse/charts.py).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from pulse import charts, portal

DASHBOARD = "index.html"
# The dashboard's four rankings: rpt_countries__top10's metrics, as an analyst reads them.
METRICS = {"population": "Population", "life_expectancy": "Life expectancy (years)",
           "gdp_usd": "GDP (current US$)", "gdp_per_capita_usd": "GDP per capita (current US$)"}
# A country page's charts: (heading, title, the yearly columns drawn as lines).
SECTIONS = (
    ("Population", "Population", ("population",)),
    ("Health", "Life expectancy at birth (years)", ("life_expectancy",)),
    ("Health", "Mortality per 1,000 (infants, under 5)", ("infant_mortality", "under5_mortality")),
    ("Economy", "GDP (current US$)", ("gdp_usd",)),
    ("Economy", "Government revenue and tax revenue (% of GDP)", ("revenue_pct_gdp", "tax_revenue_pct_gdp")),
)
PROFILE_COLUMNS = ("country_code", "country_name", "region", "income_level", "population",
                   "life_expectancy", "gdp_per_capita_usd")

FILTER_JS = """
(function () {
  var box = document.getElementById('filter'), rows = document.querySelectorAll('#countries tbody tr');
  var info = document.getElementById('info');
  function draw() {
    var q = box.value.toLowerCase(), shown = 0;
    rows.forEach(function (tr) {
      var hit = !q || tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.hidden = !hit; shown += hit ? 1 : 0;
    });
    info.textContent = shown + ' of ' + rows.length + ' countries';
  }
  box.addEventListener('input', draw);
  draw();
})();
"""


def _cell(value: Any) -> str:
    number = portal.number(value)
    if number is None:
        return html.escape("" if value is None else str(value))
    return charts.number_text(number)


def render_dashboard(profile: Sequence[Mapping[str, Any]], top: Sequence[Mapping[str, Any]],
                     pages: set[str], refreshed_at: str) -> str:
    """The dashboard: four ranked bar charts (rpt_countries__top10) and every country of the
    profile in a table to search, each linking to its page when it has one (`pages`)."""
    e = html.escape
    figures = []
    for metric, title in METRICS.items():
        ranked = sorted((r for r in top if r["metric"] == metric), key=lambda r: r["rank"])
        labels = [str(r["country_name"]) for r in ranked]
        values = [portal.number(r["value"]) or 0.0 for r in ranked]
        years = sorted({r["year"] for r in ranked if r.get("year") is not None})
        when = f" ({years[0]}{'-' + str(years[-1]) if len(years) > 1 else ''})" if years else ""
        figures.append(f'<div class="card"><h3>{e(title)}{e(when)}</h3>'
                       f'{charts.bar_chart(title, labels, values)}</div>')
    rows = []
    for r in sorted(profile, key=lambda r: str(r["country_name"])):
        code = str(r["country_code"])
        name = e(str(r["country_name"]))
        link = f'<a href="{e(code)}.html">{name}</a>' if code in pages else name
        cells = "".join(f'<td class="n">{_cell(r.get(c))}</td>' for c in PROFILE_COLUMNS[4:])
        rows.append(f"<tr><td>{link}</td><td><code>{e(code)}</code></td>"
                    f"<td>{_cell(r.get('region'))}</td><td>{_cell(r.get('income_level'))}</td>"
                    f"{cells}</tr>")
    body = f"""<p><a href="../index.html">All reports</a> &middot; Countries</p>
<h1>Countries</h1>
<p class="meta">{len(profile):,} countries &middot; World Bank and OECD indicators, the latest
year each country has &middot; refreshed {e(refreshed_at[:19].replace("T", " "))} UTC</p>
<div class="cards wide">{"".join(figures)}</div>
<h2>Every country</h2>
<p><input type="search" id="filter" placeholder="Find a country, region or income group"
aria-label="Find a country"> <span id="info" class="meta"></span></p>
<div class="scroll"><table id="countries"><thead><tr><th>country</th><th>code</th><th>region</th>
<th>income group</th><th>population</th><th>life expectancy</th><th>GDP per capita (US$)</th>
</tr></thead><tbody>
{"".join(rows)}
</tbody></table></div>"""
    return portal.page("Countries - Pulse reports", body, FILTER_JS)


def render_country(code: str, names: Sequence[str], rows: Sequence[tuple],
                   profile: Mapping[str, Any] | None, refreshed_at: str) -> str:
    """A country's page: its population, health and economy over the years, and its CSV."""
    e = html.escape
    index = {name: i for i, name in enumerate(names)}
    ordered = sorted(rows, key=lambda r: r[index["year"]])
    years = [str(r[index["year"]]) for r in ordered]
    name = str(ordered[0][index["country_name"]]) if ordered else code
    parts, heading = [], None
    for section, title, columns in SECTIONS:
        present = [c for c in columns if c in index]
        series = {c: [portal.number(r[index[c]]) for r in ordered] for c in present}
        if not any(v is not None for values in series.values() for v in values):
            continue  # the country has no value of these: no empty chart
        if section != heading:
            parts.append(f"<h2>{e(section)}</h2>")
            heading = section
        parts.append(f"<figure><figcaption>{e(title)}</figcaption>"
                     f"{charts.line_chart(f'{name}: {title}', years, series)}</figure>")
    facts = ""
    if profile:
        facts = " &middot; ".join(e(str(profile[k])) for k in ("region", "income_level") if profile.get(k))
    body = f"""<p><a href="../index.html">All reports</a> &middot; <a href="index.html">Countries</a></p>
<h1>{e(name)} <small><code>{e(code)}</code></small></h1>
<p class="meta">{facts}{" &middot; " if facts else ""}{len(ordered):,} years
({e(years[0] if years else "")}-{e(years[-1] if years else "")}) &middot; refreshed
{e(refreshed_at[:19].replace("T", " "))} UTC</p>
<p class="files">Download: <a href="{e(code)}.csv">CSV</a> (every year, every column)</p>
{"".join(parts) or "<p>No yearly values for this country yet.</p>"}"""
    return portal.page(f"{name} - Pulse reports", body)
