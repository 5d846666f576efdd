"""dbt's Jinja context as sqlfluff's jinja templater sees it (.sqlfluff `library_path`).

sqlfluff's `apply_dbt_builtins` covers ref, source, var, config, this, is_incremental and
return; this adds the rest our macros use, as at dbt's parse time: `execute` is False, so
nothing reads the database (dbt's own templater would need one, see .sqlfluff). Every
name here is a context variable of the templater; nothing in dbt reads this package.
"""

import re
from types import SimpleNamespace

# Parse time: the macros take their "no database" branch (loaded_source's typed NULLs,
# country_indicators' canonical list, cast_or_null without pg_input_is_valid).
execute = False


def load_relation(relation):
    """The relation itself, as if it existed (rpt_chicago__rejected_rows' rejects tables)."""
    return relation


def run_query(sql):
    """Never reached while `execute` is False."""
    raise RuntimeError(f"run_query needs a database: {sql}")


class _Adapter:
    @staticmethod
    def quote(identifier):
        return f'"{identifier}"'

    @staticmethod
    def get_columns_in_relation(relation):
        return []


def _raise_compiler_error(message):
    raise RuntimeError(message)


adapter = _Adapter()
modules = SimpleNamespace(re=re)
exceptions = SimpleNamespace(raise_compiler_error=_raise_compiler_error)
