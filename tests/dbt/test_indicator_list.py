"""dbt's World Bank indicator list is pipelines/worldbank/indicators.yml's, name for name.

dbt cannot read a file, so the canonical names are written out in the macro
country_canonical_indicators (the columns rpt_countries__profile always has) and in the
profile's documented columns. Both must follow indicators.yml: this test renders the macro
with Jinja (no database, no dbt run) and compares.
"""

from __future__ import annotations

import jinja2
import yaml

from pipelines.worldbank.settings import INDICATORS_FILE, load_indicators
from pulse.warehouse import PROJECT_ROOT

DBT = PROJECT_ROOT / "dbt_project"
MACROS = DBT / "macros" / "countries" / "country_indicators.sql"
PROFILE_YML = DBT / "models" / "marts" / "countries" / "_countries__models.yml"
PROFILE_KEY = ["country_code", "country_name", "region", "income_level"]


class _Returned(Exception):
    """What a dbt macro passed to return(): dbt's return() hands its value back by raising."""


def _return(value):
    raise _Returned(value)


def declared_names() -> list[str]:
    """The checked-in indicators.yml's names, in file order (not $PULSE_WORLDBANK_INDICATORS')."""
    return [indicator.name for indicator in load_indicators(INDICATORS_FILE).values()]


def dbt_canonical_names() -> list[str]:
    """What country_canonical_indicators() returns, rendered as dbt would render it."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)
    module = env.from_string(MACROS.read_text()).make_module({"return": _return})
    try:
        module.country_canonical_indicators()
    except _Returned as returned:
        return list(returned.args[0])
    raise AssertionError(f"{MACROS}: country_canonical_indicators() returned nothing")


def test_dbt_canonical_indicators_are_indicators_yml():
    assert dbt_canonical_names() == declared_names(), (
        f"country_canonical_indicators() in {MACROS.relative_to(PROJECT_ROOT)} must list the "
        f"names of {INDICATORS_FILE.relative_to(PROJECT_ROOT)}, in its order: edit the macro "
        "when you add, rename or drop an indicator"
    )


def test_profile_documents_every_indicator_column():
    models = yaml.safe_load(PROFILE_YML.read_text())["models"]
    profile = next(m for m in models if m["name"] == "rpt_countries__profile")
    documented = [column["name"] for column in profile["columns"]]
    expected = PROFILE_KEY + [f"{name}{suffix}" for name in declared_names() for suffix in ("", "_year")]
    assert documented == expected, (
        f"{PROFILE_YML.relative_to(PROJECT_ROOT)}: rpt_countries__profile documents a column "
        f"`<indicator>` and `<indicator>_year` per line of {INDICATORS_FILE.name}, in its order"
    )
