"""A local World Bank Indicators API v2 and OECD SDMX REST API over synthetic country statistics.

Pulse's demo, tests and benchmarks point the worldbank and oecd dlt sources at it instead of
api.worldbank.org and sdmx.oecd.org: same URL forms, JSON / SDMX-CSV shapes, paging, error
bodies and rate limits, with `sample_api.Faults` for failures.

    universe = CountryUniverse(seed=2026, countries=20, first_year=2000)
    with CountryApi(universe) as api:
        requests.get(f"{api.worldbank_url}/country/all/indicator/SP.POP.TOTL",
                     params={"format": "json", "per_page": 1000})
"""

from .server import CountryApi
from .universe import (
    DATAFLOWS,
    INDICATORS,
    Country,
    CountryUniverse,
    Indicator,
    OecdDataflow,
    RevisionSummary,
)

__all__ = [
    "DATAFLOWS",
    "INDICATORS",
    "Country",
    "CountryApi",
    "CountryUniverse",
    "Indicator",
    "OecdDataflow",
    "RevisionSummary",
]
