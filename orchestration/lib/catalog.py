"""What the asset catalog says about each asset beyond its key: the subject it belongs to
(a `domain` tag, for the groups are layers), who owns it, the raw tables' descriptions and
columns (declared once, in the dbt sources), and what each dbt test checks, in words."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

# Who answers for an asset. The platform team keeps data flowing in (APIs, loads, the
# lake); analytics engineering owns the dbt models and the reports they publish.
PLATFORM = "team:data-platform"
ANALYTICS = "team:analytics-engineering"

# The subject of a source, a raw schema or a dbt model's `<layer>_<subject>__` prefix.
SUBJECTS = {"chicago": "chicago", "worldbank": "countries", "oecd": "countries",
            "countries": "countries", "events": "events", "logs": "logs"}
# Seeds named for what they are, not for their subject.
SEED_SUBJECTS = {"chicago_community_areas": "chicago", "fbi_crime_codes": "chicago",
                 "crawler_ip_ranges": "logs", "crawler_user_agents": "logs"}
MODEL_PREFIXES = ("stg_", "int_", "dim_", "rpt_")


def subject_of(key: dg.AssetKey) -> str | None:
    """chicago, countries, events or logs: read from the key, which every layer names."""
    first, last = key.path[0], key.path[-1]
    if first == "api" and len(key.path) > 1:
        return SUBJECTS.get(key.path[1])
    if first.startswith("raw_"):
        return SUBJECTS.get(first.removeprefix("raw_"))
    if first == "seeds":
        return SEED_SUBJECTS.get(last)
    if last == "geocoded_points":
        return "chicago"
    if last.startswith(MODEL_PREFIXES) and "__" in last:
        return SUBJECTS.get(last.split("_", 1)[1].split("__", 1)[0])
    if first == "lake":
        return SUBJECTS.get(last.split("_", 1)[0])
    if first == "reports" and last == "countries":
        return "countries"
    return None


def owner_of(key: dg.AssetKey) -> str:
    built_by_dbt = key.path[0] in ("seeds", "staging", "enriched", "marts", "reports")
    return ANALYTICS if built_by_dbt else PLATFORM


def with_catalog(spec: dg.AssetSpec, sources: Mapping[dg.AssetKey, Mapping[str, Any]]
                 ) -> dg.AssetSpec:
    """`spec` with its owner and subject tag and, for a raw table that a dbt source
    declares, that declaration's description and columns where the spec has none."""
    subject = subject_of(spec.key)
    changes: dict[str, Any] = {}
    if not spec.owners:
        changes["owners"] = [owner_of(spec.key)]
    if subject and "domain" not in spec.tags:
        changes["tags"] = {**spec.tags, "domain": subject}
    source = sources.get(spec.key)
    if source is not None:
        if not spec.description and source.get("description"):
            changes["description"] = source["description"]
        if "dagster/column_schema" not in spec.metadata and source.get("columns"):
            changes["metadata"] = {**spec.metadata, "dagster/column_schema": _schema(source)}
    return spec.replace_attributes(**changes) if changes else spec


def _schema(source: Mapping[str, Any]) -> dg.TableSchema:
    return dg.TableSchema(columns=[
        dg.TableColumn(name, type=column.get("data_type") or "unknown",
                       description=column.get("description") or None)
        for name, column in source["columns"].items()
    ])


def describe_test(node: Mapping[str, Any]) -> str:
    """One sentence for a dbt data test, from its generic test and arguments: what an
    operator reads on the check before opening the dbt project."""
    if node.get("description"):
        return node["description"]
    meta = node.get("test_metadata") or {}
    name, kwargs = meta.get("name", node.get("name", "")), meta.get("kwargs") or {}
    column = f"`{kwargs.get('column_name')}`"
    sentences = {
        "not_null": lambda: f"{column} is never NULL.",
        "unique": lambda: f"{column} is unique: no value on two rows.",
        "unique_combination_of_columns": lambda: "One row per ("
        + ", ".join(kwargs.get("combination_of_columns", [])) + ").",
        "loaded_key": lambda: "The key (" + ", ".join(kwargs.get("columns", []))
        + ") is complete and unique on every loaded row.",
        "accepted_values": lambda: f"{column} is one of: " + _values(kwargs.get("values", [])) + ".",
        "castable": lambda: f"Every {column} casts to {kwargs.get('type')}: staging would "
        "fail on one that does not.",
        "within_range": lambda: f"{column} lies within [{kwargs.get('min_value', '-inf')}, "
        f"{kwargs.get('max_value', 'inf')}] (NULLs pass).",
        "relationships": lambda: f"Every {column} is a `{kwargs.get('field')}` of "
        + _relation(kwargs.get("to", "")) + ".",
        "matches_pattern": lambda: f"{column} matches `{kwargs.get('pattern')}`.",
    }
    text = sentences[name]() if name in sentences else f"dbt test `{name}`."
    if (node.get("config") or {}).get("severity", "").lower() == "warn":
        text += " Warns, does not fail."
    return f"{text} (dbt test `{name}`, {node.get('original_file_path', 'dbt_project')})"


def _values(values: list) -> str:
    shown = ", ".join(str(v) for v in values[:8])
    return shown + (f" and {len(values) - 8} more" if len(values) > 8 else "")


def _relation(to: str) -> str:
    """`ref('fbi_crime_codes')` -> fbi_crime_codes; `source('chicago', 'crimes')` -> chicago.crimes."""
    inner = to.split("(", 1)[-1].rstrip(")")
    return ".".join(part.strip().strip("'\"") for part in inner.split(","))
