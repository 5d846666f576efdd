{#
    cast_or_null(column, type): the value cast to `type`, or NULL when it does not
    parse. Socrata sends every field as text; one malformed value must not fail
    the whole build, so each cast is guarded by a pattern of what it accepts.
    Patterns are strict (no 'now', 'infinity' or exponents on integers), and on
    PostgreSQL 16+ pg_input_is_valid also catches calendar errors such as
    2024-02-30 that a pattern lets through.
#}

{% macro cast_pattern(type) %}
    {%- set patterns = {
        'integer': '^\s*[+-]?\d{1,9}\s*$',
        'bigint': '^\s*[+-]?\d{1,18}\s*$',
        'numeric': '^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?\s*$',
        'double precision': '^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?\s*$',
        'timestamp': '^\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?\s*$',
    } -%}
    {{ return(patterns[type]) }}
{% endmacro %}

{% macro server_checks_input() %}
    {#- pg_input_is_valid arrived in PostgreSQL 16 -#}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set version = run_query('show server_version_num').columns[0].values()[0] -%}
    {{ return(version | int >= 160000) }}
{% endmacro %}

{% macro is_castable(column, type) -%}
    ({{ column }} ~ '{{ cast_pattern(type) }}'
    {%- if type == 'timestamp' and server_checks_input() %}
        and pg_input_is_valid({{ column }}, '{{ type }}')
    {%- endif %})
{%- endmacro %}

{% macro cast_or_null(column, type) -%}
    case when {{ is_castable(column, type) }} then ({{ column }})::{{ type }} end
{%- endmacro %}

{#
    One `when` of a staging model's reject_reason case: the row cannot be counted
    when `column` (a key or the event date) does not parse as `type`.
    reject_unless_castable('"date"', 'timestamp') -> "date '2024-13-01' is not a timestamp"
#}
{% macro reject_unless_castable(column, type) -%}
    {%- set noun = {
        'bigint': 'an integer', 'integer': 'an integer', 'timestamp': 'a timestamp',
    }[type] -%}
    when not coalesce({{ is_castable(column, type) }}, false)
        then '{{ column | replace('"', '') }} '
        || coalesce(quote_literal(left({{ column }}, 40)), 'missing')
        || ' is not {{ noun }}'
{%- endmacro %}
