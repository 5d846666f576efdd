"""Synthetic country statistics: a pure function of the seed until `revise` is called.

`CountryUniverse` picks real economies (economies.py), invents plausible yearly series for
them (population grows, life expectancy rises, mortality falls, GDP follows a real growth
path and a dollar price level) and derives the World Bank aggregates from their members, so
WLD population is the sum of its countries and GDP per capita is GDP / population.

Each series has a *truth* (the underlying number) and a World Bank view of it with gaps
(early years, small countries, ~5% random holes, a missing latest year), so the OECD
dataflows, built from the same truth with a little noise, agree with the World Bank within
~3% and sometimes cover a year the World Bank lacks.

Rows are rendered lazily per indicator / dataflow and cached until a revision touches them,
so building the default universe (about 250 economies x 66 years x 14 indicators) stays
well under two seconds and serving a page is a slice.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .economies import ADMIN_REGIONS, CURRENCIES, ECONOMIES, INCOMES, LENDING, REGIONS


@dataclass(frozen=True)
class Country:
    """One economy of the World Bank country list: a country, or an aggregate (region, group)."""

    iso3: str  # the API's "id": ISO3 for a country, the WB code for an aggregate (WLD)
    iso2: str  # "iso2Code": ISO2, or the aggregate's code (1W)
    name: str
    region_id: str  # "NA" for aggregates, as the API says
    region_name: str
    income_id: str
    income_name: str
    lending_id: str
    capital: str
    longitude: float | None
    latitude: float | None
    is_aggregate: bool
    region_iso2: str = "NA"
    income_iso2: str = "NA"
    lending_iso2: str = ""
    lending_name: str = "Aggregates"
    admin_region: tuple[str, str, str] = ("", "", "")
    flags: str = ""  # economies.py flags (O, P, E, ...); "" for aggregates
    population_millions: float = 0.0  # the anchor of the synthetic series (about 2020)

    def api_object(self) -> dict[str, Any]:
        """This economy as a /v2/country list item."""
        admin_id, admin_iso2, admin_name = self.admin_region
        return {
            "id": self.iso3,
            "iso2Code": self.iso2,
            "name": self.name,
            "region": {"id": self.region_id, "iso2code": self.region_iso2, "value": self.region_name},
            "adminregion": {"id": admin_id, "iso2code": admin_iso2, "value": admin_name},
            "incomeLevel": {"id": self.income_id, "iso2code": self.income_iso2,
                            "value": self.income_name},
            "lendingType": {"id": self.lending_id, "iso2code": self.lending_iso2,
                            "value": self.lending_name},
            "capitalCity": self.capital,
            "longitude": "" if self.longitude is None else f"{self.longitude:g}",
            "latitude": "" if self.latitude is None else f"{self.latitude:g}",
        }


@dataclass(frozen=True)
class Indicator:
    """A served World Bank indicator: how it is titled, rounded and aggregated."""

    id: str
    title: str  # the API's indicator.value
    decimal: int  # the rows' "decimal" and the rounding of values
    aggregate: str  # sum | pop (population-weighted mean) | gdp (GDP-weighted) | ratio


INDICATORS: dict[str, Indicator] = {i.id: i for i in (
    Indicator("SP.POP.TOTL", "Population, total", 0, "sum"),
    Indicator("SP.DYN.LE00.IN", "Life expectancy at birth, total (years)", 3, "pop"),
    Indicator("SP.DYN.IMRT.IN", "Mortality rate, infant (per 1,000 live births)", 1, "pop"),
    Indicator("SH.DYN.MORT", "Mortality rate, under-5 (per 1,000 live births)", 1, "pop"),
    Indicator("SP.DYN.CDRT.IN", "Death rate, crude (per 1,000 people)", 1, "pop"),
    Indicator("NY.GDP.MKTP.CD", "GDP (current US$)", 0, "sum"),
    Indicator("NY.GDP.PCAP.CD", "GDP per capita (current US$)", 0, "ratio"),
    Indicator("NY.GDP.MKTP.KD.ZG", "GDP growth (annual %)", 1, "gdp"),
    Indicator("GC.REV.XGRT.GD.ZS", "Revenue, excluding grants (% of GDP)", 1, "gdp"),
    Indicator("GC.TAX.TOTL.GD.ZS", "Tax revenue (% of GDP)", 1, "gdp"),
    Indicator("NE.EXP.GNFS.CD", "Exports of goods and services (current US$)", 0, "sum"),
    Indicator("NE.IMP.GNFS.CD", "Imports of goods and services (current US$)", 0, "sum"),
    Indicator("SP.URB.TOTL.IN.ZS", "Urban population (% of total population)", 1, "pop"),
    Indicator("SP.POP.GROW", "Population growth (annual %)", 1, "pop"),
)}
POP, LE, IMR, U5, CDR = "SP.POP.TOTL", "SP.DYN.LE00.IN", "SP.DYN.IMRT.IN", "SH.DYN.MORT", "SP.DYN.CDRT.IN"
GDP, PCAP, GROWTH = "NY.GDP.MKTP.CD", "NY.GDP.PCAP.CD", "NY.GDP.MKTP.KD.ZG"
REV, TAX, EXP, IMP = "GC.REV.XGRT.GD.ZS", "GC.TAX.TOTL.GD.ZS", "NE.EXP.GNFS.CD", "NE.IMP.GNFS.CD"
URBAN, POPGROW = "SP.URB.TOTL.IN.ZS", "SP.POP.GROW"
# Computed from other indicators' served values; a revision recomputes them, never edits them.
DERIVED = {PCAP: (GDP, POP), POPGROW: (POP,)}

Member = Callable[[Country], bool]


def _flag(letter: str) -> Member:
    return lambda c: letter in c.flags


def _region(region: str, *, developing: bool = False, ida_ibrd: bool = False) -> Member:
    def member(c: Country) -> bool:
        return (c.region_id == region and (not developing or c.income_id != "HIC")
                and (not ida_ibrd or c.lending_id != "LNX"))
    return member


def _small(c: Country) -> bool:
    return c.population_millions < 1.5


# The World Bank aggregates (id, iso2 code, name, membership); empty ones are not served.
AGGREGATES: tuple[tuple[str, str, str, Member], ...] = (
    ("AFE", "ZH", "Africa Eastern and Southern", lambda c: c.region_id == "SSF" and "W" not in c.flags),
    ("AFW", "ZI", "Africa Western and Central", lambda c: c.region_id == "SSF" and "W" in c.flags),
    ("ARB", "1A", "Arab World", _flag("A")),
    ("CSS", "S3", "Caribbean small states", lambda c: _small(c) and c.region_id == "LCN"),
    ("CEB", "B8", "Central Europe and the Baltics", _flag("B")),
    ("EAR", "V2", "Early-demographic dividend", lambda c: c.income_id == "LMC"),
    ("EAS", "Z4", "East Asia & Pacific", _region("EAS")),
    ("EAP", "4E", "East Asia & Pacific (excluding high income)", _region("EAS", developing=True)),
    ("TEA", "T4", "East Asia & Pacific (IDA & IBRD countries)", _region("EAS", ida_ibrd=True)),
    ("EMU", "XC", "Euro area", _flag("Z")),
    ("ECS", "Z7", "Europe & Central Asia", _region("ECS")),
    ("ECA", "7E", "Europe & Central Asia (excluding high income)", _region("ECS", developing=True)),
    ("TEC", "T7", "Europe & Central Asia (IDA & IBRD countries)", _region("ECS", ida_ibrd=True)),
    ("EUU", "EU", "European Union", _flag("E")),
    ("FCS", "F1", "Fragile and conflict affected situations", _flag("F")),
    ("HPC", "XE", "Heavily indebted poor countries (HIPC)", _flag("H")),
    ("HIC", "XD", "High income", lambda c: c.income_id == "HIC"),
    ("IBD", "XF", "IBRD only", lambda c: c.lending_id == "IBD"),
    ("IBT", "ZT", "IDA & IBRD total", lambda c: c.lending_id != "LNX"),
    ("IDB", "XH", "IDA blend", lambda c: c.lending_id == "IDB"),
    ("IDX", "XI", "IDA only", lambda c: c.lending_id == "IDX"),
    ("IDA", "XG", "IDA total", lambda c: c.lending_id in ("IDB", "IDX")),
    ("LTE", "V3", "Late-demographic dividend", lambda c: c.income_id == "UMC"),
    ("LCN", "ZJ", "Latin America & Caribbean", _region("LCN")),
    ("LAC", "XJ", "Latin America & Caribbean (excluding high income)", _region("LCN", developing=True)),
    ("TLA", "T2", "Latin America & the Caribbean (IDA & IBRD countries)", _region("LCN", ida_ibrd=True)),
    ("LDC", "XL", "Least developed countries: UN classification", _flag("L")),
    ("LMY", "XO", "Low & middle income", lambda c: c.income_id != "HIC"),
    ("LIC", "XM", "Low income", lambda c: c.income_id == "LIC"),
    ("LMC", "XN", "Lower middle income", lambda c: c.income_id == "LMC"),
    ("MEA", "ZQ", "Middle East & North Africa", _region("MEA")),
    ("MNA", "XQ", "Middle East & North Africa (excluding high income)", _region("MEA", developing=True)),
    ("TMN", "T3", "Middle East & North Africa (IDA & IBRD countries)", _region("MEA", ida_ibrd=True)),
    ("MIC", "XP", "Middle income", lambda c: c.income_id in ("LMC", "UMC")),
    ("NAC", "XU", "North America", _region("NAC")),
    ("OED", "OE", "OECD members", _flag("O")),
    ("OSS", "S4", "Other small states", lambda c: _small(c) and c.region_id not in ("LCN", "EAS")),
    ("PSS", "S2", "Pacific island small states", lambda c: _small(c) and c.region_id == "EAS"),
    ("PST", "V4", "Post-demographic dividend", lambda c: c.income_id == "HIC"),
    ("PRE", "V1", "Pre-demographic dividend", lambda c: c.income_id == "LIC"),
    ("SST", "S1", "Small states", _small),
    ("SAS", "8S", "South Asia", _region("SAS")),
    ("TSA", "T5", "South Asia (IDA & IBRD)", _region("SAS", ida_ibrd=True)),
    ("SSF", "ZG", "Sub-Saharan Africa", _region("SSF")),
    ("SSA", "ZF", "Sub-Saharan Africa (excluding high income)", _region("SSF", developing=True)),
    ("TSS", "T6", "Sub-Saharan Africa (IDA & IBRD countries)", _region("SSF", ida_ibrd=True)),
    ("UMC", "XT", "Upper middle income", lambda c: c.income_id == "UMC"),
    ("WLD", "1W", "World", lambda c: True),
)

# OECD data: areas that are not World Bank economies.
OECD_AREAS = {"OECD": ("OECD", "O"), "EU27_2020": ("European Union (27 countries from 01/02/2020)", "E")}


@dataclass(frozen=True)
class OecdDataflow:
    """An SDMX dataflow as the OECD serves it (codes only; labels live in oecd.py)."""

    name: str  # Pulse's name: population, life_expectancy, gdp
    agency: str
    id: str
    version: str
    title: str
    dimensions: tuple[str, ...]
    attributes: tuple[str, ...]

    @property
    def ref(self) -> str:
        """The DATAFLOW column: AGENCY:ID(VERSION)."""
        return f"{self.agency}:{self.id}({self.version})"

    @property
    def columns(self) -> tuple[str, ...]:
        """The format=csv header."""
        return ("DATAFLOW", *self.dimensions, "TIME_PERIOD", "OBS_VALUE", *self.attributes)


DATAFLOWS: dict[str, OecdDataflow] = {d.name: d for d in (
    OecdDataflow("population", "OECD.ELS.SAE", "DSD_POPULATION@DF_POP_HIST", "1.0",
                 "Population data", ("REF_AREA", "MEASURE", "UNIT_MEASURE", "SEX", "AGE", "TIME_HORIZ"),
                 ("OBS_STATUS", "UNIT_MULT", "DECIMALS")),
    OecdDataflow("life_expectancy", "OECD.ELS.HD", "DSD_HEALTH_STAT@DF_LE", "1.0",
                 "Life expectancy at birth and at age 65",
                 ("REF_AREA", "FREQ", "MEASURE", "UNIT_MEASURE", "SEX", "AGE", "SOCIO_ECON_STATUS",
                  "DEATH_CAUSE"),
                 ("OBS_STATUS", "UNIT_MULT", "DECIMALS")),
    OecdDataflow("gdp", "OECD.CTP.TPS", "DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL", "1.1",
                 "Reference series: gross domestic product (global)",
                 ("REF_AREA", "MEASURE", "UNIT_MEASURE", "FREQ"),
                 ("OBS_STATUS", "UNIT_MULT", "DECIMALS", "CURRENCY")),
)}


@dataclass
class Observation:
    """One OECD observation; times are UTC epoch seconds of when it was created / last changed."""

    value: float | None
    attrs: tuple[str, ...]  # the attribute values after OBS_VALUE, as served (UNIT_MULT, ...)
    decimals: int
    created: float
    updated: float

    def obs_value(self) -> str:
        return "" if self.value is None else _number_text(self.value, self.decimals)


# (ACTION, series key, TIME_PERIOD, observation or None for a deletion)
Change = tuple[str, tuple[str, ...], str, Observation | None]


@dataclass(frozen=True)
class RevisionSummary:
    """What one `revise` call changed."""

    indicators: tuple[str, ...]  # World Bank indicators whose lastupdated moved
    values_revised: int  # World Bank country values changed (aggregates follow, uncounted)
    oecd_revised: int
    oecd_added: int
    oecd_deleted: int
    at: datetime  # the OECD change stamp (UTC)


def _number_text(value: float, decimals: int) -> str:
    """An OBS_VALUE as the OECD writes it: no exponent, no trailing zeros."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _parse_economies() -> list[Country]:
    out = []
    for line in ECONOMIES.splitlines():
        head, name, capital, lon, lat, pop = line.split("|")
        iso3, iso2, region, income, lending, flags = head.split()
        admin = ADMIN_REGIONS.get(region, ("", "", "")) if income != "HIC" else ("", "", "")
        out.append(Country(
            iso3, iso2, name, region, REGIONS[region][1], income, INCOMES[income][1], lending,
            capital, float(lon), float(lat), False, REGIONS[region][0], INCOMES[income][0],
            LENDING[lending][0], LENDING[lending][1], admin, flags.strip("-"), float(pop)))
    return out


ALL_ECONOMIES: tuple[Country, ...] = tuple(_parse_economies())


def _aggregate(code: str, iso2: str, name: str) -> Country:
    return Country(code, iso2, name, "NA", "Aggregates", "NA", "Aggregates", "", "", None, None, True)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


# (low, high) per income group of: GDP per capita about 2020 (US$, log-uniform), life
# expectancy about 2020, revenue excluding grants (% of GDP), urban share 2020 (%).
_PCAP_2020 = {"HIC": (15_000, 90_000), "UMC": (4_500, 14_000), "LMC": (1_200, 4_500), "LIC": (280, 1_100)}
_LE_2020 = {"HIC": (77.0, 84.0), "UMC": (70.0, 78.0), "LMC": (63.0, 72.0), "LIC": (55.0, 66.0)}
_REVENUE = {"HIC": (24.0, 40.0), "UMC": (17.0, 30.0), "LMC": (12.0, 24.0), "LIC": (8.0, 18.0)}
_URBAN = {"HIC": (70.0, 98.0), "UMC": (50.0, 85.0), "LMC": (30.0, 60.0), "LIC": (15.0, 45.0)}
_POP_GROWTH = {"HIC": 0.006, "UMC": 0.011, "LMC": 0.019, "LIC": 0.027}
_REAL_GROWTH = {"HIC": 2.4, "UMC": 3.6, "LMC": 4.2, "LIC": 3.6}
# World shocks to real growth (percentage points), HIC first.
_SHOCKS = {1975: (-3.0, -1.5), 1982: (-2.5, -1.5), 1991: (-1.5, -0.5), 2009: (-5.0, -2.5),
           2020: (-6.5, -5.0), 2021: (4.5, 3.5)}


class CountryUniverse:
    """Economies and their yearly World Bank series plus the OECD dataflows, from a seed.

        universe = CountryUniverse(seed=2026, countries=200, first_year=1960, last_year=2025)
        universe.worldbank_rows("SP.POP.TOTL")[0]   # the first aggregate's latest year
        universe.oecd_rows("gdp")[0]["OBS_VALUE"]

    Thread-safe for serving while `revise` runs (one lock guards the caches and values).
    """

    def __init__(self, seed: int = 2026, countries: int = 200, first_year: int = 1960,
                 last_year: int = 2025) -> None:
        if first_year > last_year:
            raise ValueError(f"CountryUniverse: first_year {first_year} is after last_year {last_year}")
        if countries < 1:
            raise ValueError(f"CountryUniverse: countries must be at least 1, got {countries}")
        self.seed, self.first_year, self.last_year = seed, first_year, last_year
        self.years = range(first_year, last_year + 1)
        self._lock = threading.RLock()
        members = self._pick(countries)
        aggregates = []
        self.members: dict[str, tuple[str, ...]] = {}
        for code, iso2, name, member in AGGREGATES:
            codes = tuple(c.iso3 for c in members if member(c))
            if codes:
                aggregates.append(_aggregate(code, iso2, name))
                self.members[code] = codes
        # The country list endpoint sorts by id; indicator pages put aggregates first, by name.
        self.countries: list[Country] = sorted([*members, *aggregates], key=lambda c: c.iso3)
        self.economies: dict[str, Country] = {c.iso3: c for c in self.countries}
        self.row_order: list[Country] = (sorted(aggregates, key=lambda c: c.name)
                                          + sorted(members, key=lambda c: c.name))
        self.indicator_ids: list[str] = list(INDICATORS)
        self.truth: dict[str, dict[str, list[float | None]]] = {i: {} for i in INDICATORS}
        self.values: dict[str, dict[str, list[float | None]]] = {i: {} for i in INDICATORS}
        for c in members:
            self._synthesise(c)
        for ind in INDICATORS:
            self._derive(ind)
            self._aggregate(ind)
        rng = random.Random(f"{seed}/lastupdated")
        base = date(last_year, 12, 1)
        self._last_updated = {i: base + timedelta(days=rng.randrange(0, 120)) for i in INDICATORS}
        self._wb_rows: dict[str, list[dict[str, Any]]] = {}
        self.oecd_dataflows: dict[str, OecdDataflow] = dict(DATAFLOWS)
        self.oecd_areas: dict[str, str] = {}  # REF_AREA code -> name
        self.observations: dict[str, dict[tuple[tuple[str, ...], str], Observation]] = {}
        self.deleted: dict[str, dict[tuple[tuple[str, ...], str], float]] = {}
        self._oecd_order: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        # Every initial observation predates any client's updatedAfter (a load's start minus overlap).
        self._stamp = (datetime.now(UTC) - timedelta(days=30)).replace(
            hour=0, minute=0, second=0, microsecond=0).timestamp()
        self._revisions = 0
        self._build_oecd()

    # -- World Bank -------------------------------------------------------------------------

    def _pick(self, n: int) -> list[Country]:
        """n economies, always including a share of the OECD dataflows' members."""
        pool = list(ALL_ECONOMIES)
        if n >= len(pool):
            return pool
        rng = random.Random(f"{self.seed}/countries")
        oecd = [c for c in pool if "O" in c.flags or "P" in c.flags]
        rest = [c for c in pool if c not in oecd]
        k = min(len(oecd), math.ceil(n * 0.3), n)
        chosen = set(rng.sample(oecd, k) + rng.sample(rest, n - k))
        return [c for c in pool if c in chosen]

    def _synthesise(self, c: Country) -> None:
        """Truth and served values of every base indicator for one country."""
        rng = random.Random(f"{self.seed}/{c.iso3}")
        years, n = self.years, len(self.years)
        inc = c.income_id
        hic = inc == "HIC"
        # Population: back and forward from the 2020 anchor with a growth that was higher before.
        g0 = _POP_GROWTH[inc] + rng.gauss(0, 0.004)
        anchor = _clamp(c.population_millions * 1e6 * math.exp(rng.gauss(0, 0.03)), 1e4, 1.45e9)
        if anchor > 5e8:  # the giants have slowed down (and must stay under 1.5 billion)
            g0 = min(g0, 0.006)
        pop: list[float] = [0.0] * n

        def growth(y: int) -> float:
            return g0 + (0.008 if hic else 0.012) * max(0, 2020 - y) / 60 + rng.gauss(0, 0.002)

        years_list = list(years)
        a = min(max(2020, self.first_year), self.last_year)
        ia = a - self.first_year
        pop[ia] = anchor * (1 + g0) ** (a - 2020)
        for i in range(ia - 1, -1, -1):
            pop[i] = pop[i + 1] / (1 + growth(years_list[i + 1]))
        for i in range(ia + 1, n):
            pop[i] = pop[i - 1] * (1 + growth(years_list[i]))
        pop = [_clamp(p, 1e4, 1.5e9) for p in pop]
        # Life expectancy: a saturating rise from 1960, a dip in 2020-2021.
        le20 = rng.uniform(*_LE_2020[inc])
        le60 = max(40.0, le20 - (rng.uniform(8, 14) if hic else rng.uniform(15, 26)))
        k = 0.03
        le = []
        for y in years:
            t = y - 1960
            s = (1 - math.exp(-k * t)) / (1 - math.exp(-k * 60)) if t >= 0 else t / 60
            v = le60 + (le20 - le60) * s + (0.15 * (y - 2020) if y > 2020 else 0)
            v += (-0.8 if y in (2020, 2021) else 0) + rng.gauss(0, 0.12)
            le.append(_clamp(v, 40.0, 85.0))
        imr_factor, u5_factor = rng.uniform(0.8, 1.2), rng.uniform(1.15, 1.45)
        imr = [_clamp(250 * math.exp(-0.08 * (v - 35)) * imr_factor, 1.5, 180.0) for v in le]
        u5 = [max(m * (u5_factor + m / 250), m + 0.3) for m in imr]
        aging = 4.5 if hic else 2.0 if inc == "UMC" else 0.5
        cdr = [_clamp(4 + 0.015 * max(0.0, 72 - v) ** 2 + aging * (y - 1960) / 65 + rng.gauss(0, 0.15),
                      1.0, 30.0) for v, y in zip(le, years, strict=True)]
        # GDP: a real growth path times a dollar price level, scaled to GDP per capita in 2020.
        mu = _REAL_GROWTH[inc] + rng.gauss(0, 0.8)
        real = [1.0] * n
        growth_pct: list[float | None] = [None] * n
        for i in range(1, n):
            shock = _SHOCKS.get(years_list[i], (0.0, 0.0))[0 if hic else 1]
            gp = mu + shock + rng.gauss(0, 1.4 if hic else 2.4)
            growth_pct[i] = gp
            real[i] = real[i - 1] * (1 + gp / 100)
        drift, level = rng.uniform(0.02, 0.045), 0.0
        price = [0.0] * n
        for i in range(n):
            level += rng.gauss(0, 0.04)
            price[i] = math.exp(drift * (years_list[i] - 2020) + level)
        pcap20 = math.exp(rng.uniform(*map(math.log, _PCAP_2020[inc])))
        scale = pcap20 * pop[ia] / (real[ia] * price[ia])
        gdp = [scale * real[i] * price[i] for i in range(n)]
        rev0 = rng.uniform(*_REVENUE[inc])
        tax_share = rng.uniform(0.62, 0.86)
        rev = [_clamp(rev0 + 0.04 * (y - 2000) + rng.gauss(0, 1.0), 5.0, 45.0) for y in years]
        tax = [min(r * _clamp(tax_share + rng.gauss(0, 0.02), 0.5, 0.95), r - 0.2) for r in rev]
        exp_share = _clamp(rng.uniform(0.12, 0.45) + (0.25 if c.population_millions < 5 else 0), 0.05, 1.2)
        imp_ratio = rng.uniform(0.85, 1.3)
        exports, imports = [], []
        for i, y in enumerate(years):
            share = exp_share * (0.55 + 0.45 * _clamp((y - 1960) / 50, 0, 1)) * math.exp(rng.gauss(0, 0.05))
            exports.append(gdp[i] * share)
            imports.append(gdp[i] * share * imp_ratio * math.exp(rng.gauss(0, 0.04)))
        u20 = rng.uniform(*_URBAN[inc])
        u60 = u20 * rng.uniform(0.35, 0.75)
        urban = [_clamp(u60 + (u20 - u60) * (y - 1960) / 60, 2.0, 100.0) for y in years]
        truth = {POP: pop, LE: le, IMR: imr, U5: u5, CDR: cdr, GDP: gdp, GROWTH: growth_pct,
                 REV: rev, TAX: tax, EXP: exports, IMP: imports, URBAN: urban}
        for ind, series in truth.items():
            d = INDICATORS[ind].decimal
            rounded = [None if v is None else round(v, d + 2 if d else 2) for v in series]
            if ind == POP:
                rounded = [None if v is None else float(round(v)) for v in series]
            self.truth[ind][c.iso3] = rounded
            self.values[ind][c.iso3] = self._mask(ind, c, rounded, rng)
        # Paired series share their gaps, so aggregates (weighted over the same members) keep
        # infant < under-5 mortality and tax < revenue.
        for a, b in ((IMR, U5), (TAX, REV)):
            va, vb = self.values[a][c.iso3], self.values[b][c.iso3]
            for i in range(n):
                if va[i] is None or vb[i] is None:
                    va[i] = vb[i] = None
        self.truth[PCAP][c.iso3] = [round(g / p, 2) for g, p in zip(gdp, pop, strict=True)]

    def _mask(self, ind: str, c: Country, series: list[float | None],
              rng: random.Random) -> list[float | None]:
        """The World Bank's view of a truth: the gaps real WDI series have."""
        out = list(series)
        n, last = len(out), self.last_year
        small = c.population_millions < 0.1
        start = self.first_year
        if ind in (GDP, GROWTH, EXP, IMP):
            early = c.income_id == "HIC" and rng.random() < 0.7
            start = 1960 if early else rng.choice((1960, 1970, 1980, 1990))
        elif ind in (REV, TAX):
            if rng.random() < (0.5 if small else 0.1):
                return [None] * n
            start = rng.choice((1972, 1990, 1990, 2000))
        elif ind in (LE, IMR, U5, CDR) and small and rng.random() < 0.5:
            return [None] * n
        gap = 0.01 if ind in (POP, URBAN) else 0.05
        # When the latest years are still missing, as they are right after a WDI release.
        lag = {POP: 0 if rng.random() < 0.85 else 1, URBAN: 0,
               LE: 1 if rng.random() < 0.7 else 2, CDR: 1 if rng.random() < 0.7 else 2,
               IMR: 1, U5: 1, REV: 1 if rng.random() < 0.4 else 2}.get(ind)
        if lag is None:  # GDP and trade
            lag = 0 if rng.random() < 0.5 else 1
        if ind == TAX:
            lag = 2
        for i, y in enumerate(self.years):
            if y < start or y > last - lag or rng.random() < gap:
                out[i] = None
        return out

    def _derive(self, ind: str) -> None:
        """Recompute a derived indicator's country values from its inputs."""
        if ind == PCAP:
            for code, gdp in self.values[GDP].items():
                pop = self.values[POP][code]
                self.values[PCAP][code] = [None if g is None or p is None or not p else round(g / p, 2)
                                           for g, p in zip(gdp, pop, strict=True)]
        elif ind == POPGROW:
            for code, pop in self.values[POP].items():
                self.values[POPGROW][code] = [None] + [
                    None if a is None or b is None else round((b / a - 1) * 100, 3)
                    for a, b in zip(pop, pop[1:], strict=False)]
                self.truth[POPGROW][code] = self.values[POPGROW][code]

    def _aggregate(self, ind: str) -> None:
        """Each aggregate's series from its members' served values (null when coverage < 50%);
        GDP per capita is the aggregate's GDP over its population, so both must be current."""
        how = INDICATORS[ind].aggregate
        pop_truth, gdp_truth, own_truth = self.truth[POP], self.truth[GDP], self.truth[ind]
        d = INDICATORS[ind].decimal
        if how == "ratio":  # GDP per capita: the aggregate's GDP over its population
            for code in self.members:
                self.values[ind][code] = [
                    None if g is None or not p else round(g / p, 2)
                    for g, p in zip(self.values[GDP][code], self.values[POP][code], strict=True)]
            return
        for code, members in self.members.items():
            series: list[float | None] = []
            # Coverage is weighted by the indicator's own truth for sums, by population or
            # GDP for means; below two thirds the aggregate is null, as WDI publishes it.
            coverage = own_truth if how == "sum" else pop_truth if how == "pop" else gdp_truth
            for i in range(len(self.years)):
                total_w = sum(coverage[m][i] or 0.0 for m in members)
                covered = acc = weight = 0.0
                for m in members:
                    v = self.values[ind][m][i]
                    if v is None:
                        continue
                    w = coverage[m][i] or 0.0
                    covered += w
                    if how == "sum":
                        acc += v
                    else:
                        acc += v * w
                        weight += w
                if not covered or covered < 2 / 3 * total_w:
                    series.append(None)
                elif how == "sum":  # missing members imputed from their share of the truth
                    total = acc * total_w / covered
                    series.append(float(round(total)) if ind == POP else round(total, 2))
                else:
                    series.append(round(acc / weight, d + 2) if weight else None)
            self.values[ind][code] = series

    def last_updated(self, indicator_id: str) -> date:
        """The indicator's lastupdated (page meta); later after a revision touches it."""
        return self._last_updated[self._indicator(indicator_id)]

    def indicator(self, indicator_id: str) -> Indicator | None:
        """The served indicator of that id (case-insensitive, as the API), or None."""
        return INDICATORS.get(indicator_id.upper())

    def _indicator(self, indicator_id: str) -> str:
        found = self.indicator(indicator_id)
        if found is None:
            raise KeyError(f"unknown World Bank indicator {indicator_id!r}; served: "
                           f"{', '.join(self.indicator_ids)}")
        return found.id

    def worldbank_rows(self, indicator_id: str) -> list[dict[str, Any]]:
        """Every economy-year row of an indicator as served: aggregates then countries by
        name, years descending. Cached until a revision; do not mutate."""
        ind = self._indicator(indicator_id)
        with self._lock:
            rows = self._wb_rows.get(ind)
            if rows is None:
                rows = self._wb_rows[ind] = self._render(ind)
            return rows

    def _render(self, ind: str) -> list[dict[str, Any]]:
        spec = INDICATORS[ind]
        indicator = {"id": ind, "value": spec.title}
        values = self.values[ind]
        rows = []
        years = [str(y) for y in self.years]
        for c in self.row_order:
            country = {"id": c.iso2, "value": c.name}
            series = values[c.iso3]
            for i in range(len(years) - 1, -1, -1):
                v = series[i]
                if v is not None:
                    v = round(v) if ind == POP else round(v, max(spec.decimal, 2) + 1)
                rows.append({"indicator": indicator, "country": country, "countryiso3code": c.iso3,
                             "date": years[i], "value": v, "unit": "", "obs_status": "",
                             "decimal": spec.decimal})
        return rows

    # -- OECD -------------------------------------------------------------------------------

    def _build_oecd(self) -> None:
        members = [c for c in self.countries if not c.is_aggregate and ("O" in c.flags or "P" in c.flags)]
        self.oecd_areas = {c.iso3: c.name for c in members}
        groups = {area: [c.iso3 for c in members if flag in c.flags]
                  for area, (_, flag) in OECD_AREAS.items()}
        for area, (name, _) in OECD_AREAS.items():
            if groups[area]:
                self.oecd_areas[area] = name
        for name in DATAFLOWS:
            self.observations[name] = {}
            self.deleted[name] = {}
        start = max(self.first_year, 1970)
        oyears = range(start, self.last_year + 1)
        for area in self.oecd_areas:
            rng = random.Random(f"{self.seed}/oecd/{area}")
            codes = groups.get(area, [area])
            self._oecd_population(area, codes, oyears, rng)
            self._oecd_life_expectancy(area, codes, oyears, rng)
            self._oecd_gdp(area, codes, oyears, rng)

    def _truth_sum(self, ind: str, codes: list[str], i: int) -> float | None:
        vals = [self.truth[ind][c][i] for c in codes]
        return None if any(v is None for v in vals) else sum(vals)  # type: ignore[arg-type]

    def _put(self, flow: str, key: tuple[str, ...], period: int, value: float | None,
             attrs: tuple[str, ...], decimals: int, rng: random.Random) -> None:
        if value is not None and rng.random() < 0.004:  # a reported-missing cell
            value, attrs = None, ("M", *attrs[1:])
        self.observations[flow][(key, str(period))] = Observation(value, attrs, decimals,
                                                                  self._stamp, self._stamp)

    def _oecd_population(self, area: str, codes: list[str], years: range, rng: random.Random) -> None:
        thousands = area not in OECD_AREAS and rng.random() < 0.12  # a few report in thousands
        mult, dec = ("3", 3) if thousands else ("0", 0)
        female = rng.uniform(0.49, 0.52)
        for y in years:
            i = y - self.first_year
            total = self._truth_sum(POP, codes, i)
            if total is None:
                continue
            total *= 1 + rng.uniform(-0.012, 0.012)
            status = "E" if y == self.last_year else "A"
            t = _clamp((y - 1970) / 55, 0, 1)
            young = rng.uniform(0.97, 1.03) * (0.38 - 0.2 * t) if area in OECD_AREAS or "O" not in \
                self.economies[area].flags else (0.28 - 0.12 * t)
            old = (0.07 + 0.12 * t) * rng.uniform(0.95, 1.05)
            for sex, share in (("_T", 1.0), ("F", female), ("M", 1 - female)):
                part = total * share
                for age, s in (("_T", 1.0), ("Y_LT15", young), ("Y15T64", 1 - young - old), ("Y_GE65", old)):
                    value = part * s / (1000 if thousands else 1)
                    self._put("population", (area, "POP", "PS", sex, age, "H"), y, round(value, dec),
                              (status, mult, str(dec)), dec, rng)

    def _oecd_life_expectancy(self, area: str, codes: list[str], years: range,
                              rng: random.Random) -> None:
        gap = rng.uniform(4.0, 6.5)
        for y in years:
            if y == self.last_year and rng.random() < 0.8:
                continue  # usually not published yet
            i = y - self.first_year
            weights = [(self.truth[LE][c][i], self.truth[POP][c][i] or 0.0) for c in codes]
            if any(v is None for v, _ in weights):
                continue
            total = sum(v * w for v, w in weights) / sum(w for _, w in weights)  # type: ignore[operator]
            total *= 1 + rng.uniform(-0.01, 0.01)
            status = "P" if y >= self.last_year - 1 else "A"
            for sex, delta in (("_T", 0.0), ("F", gap / 2), ("M", -gap / 2)):
                at_birth = total + delta
                for age, value in (("Y0", at_birth), ("Y65", 0.32 * at_birth - 7.0)):
                    self._put("life_expectancy", (area, "A", "LFEXP", "Y", sex, age, "_T", "_T"), y,
                              round(value, 1), (status, "0", "1"), 1, rng)

    def _oecd_gdp(self, area: str, codes: list[str], years: range, rng: random.Random) -> None:
        i20 = min(max(2020, self.first_year), self.last_year) - self.first_year
        anchor = self._truth_sum(GDP, codes, i20) or 1e10
        usd_mult = 9 if anchor > 1e12 else 3 if anchor < 2e10 else 6
        currency = "EUR" if area == "EU27_2020" else CURRENCIES.get(area, ("", 0.0))[0]
        fx0 = 0.88 if area == "EU27_2020" else CURRENCIES.get(area, ("", 0.0))[1]
        fx_drift = rng.uniform(0.0, 0.05)
        xdc_mult = 9 if anchor * fx0 > 5e13 else 3 if anchor * fx0 < 2e10 else 6
        for y in years:
            i = y - self.first_year
            gdp = self._truth_sum(GDP, codes, i)
            if gdp is None:
                continue
            gdp *= 1 + rng.uniform(-0.015, 0.015)
            status = "E" if y == self.last_year else "A"
            self._put("gdp", (area, "B1GQ_V", "USD", "A"), y, round(gdp / 10 ** usd_mult, 3),
                      (status, str(usd_mult), "3", ""), 3, rng)
            if currency and area != "OECD":
                xdc = gdp * fx0 * math.exp(fx_drift * (y - 2020))
                self._put("gdp", (area, "B1GQ_V", "XDC", "A"), y, round(xdc / 10 ** xdc_mult, 3),
                          (status, str(xdc_mult), "3", currency), 3, rng)

    def dataflow(self, name: str) -> OecdDataflow:
        try:
            return self.oecd_dataflows[name]
        except KeyError:
            raise KeyError(f"unknown OECD dataflow {name!r}; served: "
                           f"{', '.join(self.oecd_dataflows)}") from None

    def oecd_keys(self, name: str) -> list[tuple[tuple[str, ...], str]]:
        """The dataflow's current (series key, period) pairs in served order (cached)."""
        with self._lock:
            keys = self._oecd_order.get(name)
            if keys is None:
                keys = self._oecd_order[name] = sorted(self.observations[name])
            return keys

    def oecd_rows(self, name: str) -> list[dict[str, str]]:
        """The current observations as format=csv serves them: {column: text}."""
        flow = self.dataflow(name)
        obs = self.observations[name]
        with self._lock:
            return [dict(zip(flow.columns, (flow.ref, *key, period, obs[(key, period)].obs_value(),
                                            *obs[(key, period)].attrs), strict=True))
                    for key, period in self.oecd_keys(name)]

    # -- revisions --------------------------------------------------------------------------

    def revise(self, share: float = 0.01, seed: int = 1) -> RevisionSummary:
        """Revise a share of the values of some (not all) World Bank indicators, moving their
        lastupdated later, and revise, add and delete OECD observations stamped now (UTC,
        strictly later than any earlier stamp)."""
        if not 0 < share <= 1:
            raise ValueError(f"revise: share must be within (0, 1], got {share}")
        with self._lock:
            self._revisions += 1
            rng = random.Random(f"{self.seed}/revise/{seed}/{self._revisions}")
            base = [i for i in INDICATORS if i not in DERIVED]
            chosen = sorted(rng.sample(base, max(1, len(base) // 3)))
            countries = [c for c in self.row_order if not c.is_aggregate]
            revised = 0
            for ind in chosen:
                decimals = INDICATORS[ind].decimal
                cells = [(c.iso3, i) for c in countries
                         for i, v in enumerate(self.values[ind][c.iso3]) if v is not None]
                for code, i in rng.sample(cells, max(1, round(len(cells) * share)) if cells else 0):
                    old = self.values[ind][code][i]
                    assert old is not None
                    new = old * (1 + rng.choice((-1, 1)) * rng.uniform(0.002, 0.03))
                    new = self._constrained(ind, code, i, new)
                    new = float(round(new)) if ind == POP else round(new, decimals + 2)
                    if new != old:
                        self.values[ind][code][i] = new
                        self.truth[ind][code][i] = new
                        revised += 1
            touched = set(chosen)
            for ind, inputs in DERIVED.items():
                if touched.intersection(inputs):
                    self._derive(ind)
                    touched.add(ind)
            for ind in [i for i in INDICATORS if i in touched]:  # GDP and population before per capita
                self._aggregate(ind)
                self._last_updated[ind] += timedelta(days=rng.randrange(1, 15))
                self._wb_rows.pop(ind, None)
            now = max(datetime.now(UTC).timestamp(), self._stamp + 0.001)
            self._stamp = now
            counts = [self._revise_oecd(name, share, rng, now) for name in DATAFLOWS]
            return RevisionSummary(tuple(sorted(touched)), revised, sum(c[0] for c in counts),
                                   sum(c[1] for c in counts), sum(c[2] for c in counts),
                                   datetime.fromtimestamp(now, UTC))

    def _constrained(self, ind: str, code: str, i: int, new: float) -> float:
        """Keep infant < under-5 mortality and tax < revenue after a revision."""
        other = {IMR: U5, U5: IMR, TAX: REV, REV: TAX}.get(ind)
        if other is None:
            return new
        o = self.values[other][code][i]
        if o is None:
            return new
        return min(new, o - 0.2) if ind in (IMR, TAX) else max(new, o + 0.2)

    def _revise_oecd(self, name: str, share: float, rng: random.Random, now: float) -> tuple[int, int, int]:
        obs = self.observations[name]
        keys = self.oecd_keys(name)
        if not keys:
            return 0, 0, 0
        n = max(1, round(len(keys) * share))
        picked = rng.sample(keys, min(len(keys), n + max(1, n // 4)))
        revise, delete = picked[:n], picked[n:]
        revised = 0
        for key in revise:
            o = obs[key]
            if o.value is None:
                continue  # still missing
            step = 10.0 ** -o.decimals  # a revision always shows in the served text
            new = round(o.value * (1 + rng.choice((-1, 1)) * rng.uniform(0.001, 0.02)), o.decimals)
            o.value = new if new != o.value else round(o.value + step, o.decimals)
            o.updated = now
            revised += 1
        for key in delete:
            del obs[key]
            self.deleted[name][key] = now
        # New observations: the next year of some series.
        latest: dict[tuple[str, ...], str] = {}
        for series, period in keys:
            latest[series] = max(latest.get(series, period), period)
        added = 0
        for series in rng.sample(sorted(latest), max(1, len(latest) // 10)):
            period = str(int(latest[series]) + 1)
            prev = obs.get((series, latest[series]))
            if prev is None or prev.value is None or (series, period) in obs:
                continue
            value = round(prev.value * rng.uniform(1.0, 1.03), prev.decimals)
            obs[(series, period)] = Observation(value, ("P", *prev.attrs[1:]), prev.decimals, now, now)
            self.deleted[name].pop((series, period), None)
            added += 1
        self._oecd_order.pop(name, None)
        return revised, added, len(delete)

    def oecd_current(self, name: str) -> list[Change]:
        """("I", series key, period, observation) of every current observation, in served order."""
        with self._lock:
            obs = self.observations[name]
            return [("I", series, period, obs[(series, period)]) for series, period in self.oecd_keys(name)]

    def oecd_changes(self, name: str, after: float) -> list[Change]:
        """(action, series key, period, observation) changed after `after` (epoch seconds):
        I new, R revised, D deleted (observation None), in served order."""
        with self._lock:
            obs = self.observations[name]
            out: list[Change] = []
            for key in self.oecd_keys(name):
                o = obs[key]
                if o.updated > after:
                    out.append(("I" if o.created > after else "R", key[0], key[1], o))
            for key, at in sorted(self.deleted[name].items()):
                if at > after:
                    out.append(("D", key[0], key[1], None))
            return out
