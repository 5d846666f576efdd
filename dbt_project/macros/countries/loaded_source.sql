{#
    loaded_source(source_name, table_name, columns): `select <columns> from
    <the source table>`, each column cast to its type, for a staging model.

    The World Bank and OECD loads are new and run on their own schedule, so a
    raw table may not exist yet (the first `dbt build` of a fresh warehouse, or
    one that only loads Chicago), and dlt creates a column only once a load
    has sent a non-null value for it (an attribute such as OBS_STATUS may be
    empty in every row). Neither may fail the whole project's build: a missing
    table reads as no rows, a missing column as NULLs, with the declared types
    either way, so the staging views (and the unit tests' fixtures) keep their
    shape. `columns` is an ordered mapping of column name -> SQL type.
#}
{% macro loaded_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set loaded = load_relation(relation) if execute else none -%}
    {%- set present = [] -%}
    {%- if loaded is not none -%}
        {%- for column in adapter.get_columns_in_relation(loaded) -%}
            {%- do present.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    select
        {%- for name, type in columns.items() %}
        {% if name in present -%}
            {{ adapter.quote(name) }}::{{ type }}
        {%- else -%}
            null::{{ type }}
        {%- endif %} as {{ adapter.quote(name) }}{{ ',' if not loop.last }}
        {%- endfor %}
    {% if loaded is not none -%}
    from {{ loaded }}
    {%- else -%}
    where false  -- {{ relation }} is not loaded yet
    {%- endif %}
{%- endmacro %}
