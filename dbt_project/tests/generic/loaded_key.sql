{#
    The key of a raw table: every row has all `columns` and no combination
    occurs twice (unique + not_null in one pass). Fails with one row per
    offending key. Passes when the table does not exist yet: a World Bank or
    OECD load that has not run must not fail a project build that does not
    need it (see loaded_source); `dbt source freshness` reports it instead.
#}
{% test loaded_key(model, columns) %}

{%- set loaded = load_relation(model) if execute else model -%}
{%- set column_list = columns | join(', ') %}

{% if loaded is none %}
select null as missing_table where false
{% else %}
select
    {{ column_list }},
    count(*) as row_count
from {{ model }}
group by {{ column_list }}
having count(*) > 1
    {%- for column in columns %}
    or bool_or({{ column }} is null)
    {%- endfor %}
{% endif %}

{% endtest %}
