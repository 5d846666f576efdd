{#
    Data tests priced to the change. A test whose `where` config holds
    __changed_rows__ tests, of an enriched point model, only the rows the
    marts have not counted yet when the var `tests_since` says so:
    - 'everything' (the default): every row; the daily full run
      (dbt_daily_tests in Dagster), `make test`, `pulse build`, a bare dbt;
    - 'marts': the rows loaded or geocoded after what the least advanced
      monthly mart counted (mart_watermarks, macros/monthly_marts.sql), which
      the Dagster refreshes use;
    - a timestamp: the rows loaded or geocoded after it.
    Any other relation (a view, a mart), and a table no mart has counted yet,
    is tested whole.

    'marts', not "since the previous build": a failing error test skips the
    marts downstream, so their watermarks stay, and the next refresh tests
    the same rows again; the bad rows stay out of the marts until fixed.

    The var may come from the environment (PULSE_TESTS_SINCE), which dbt does
    not weigh when it reuses its last parse: `--vars` would parse the whole
    project again whenever it differs from that parse's (docs/operations.md).
    Read only while executing: the parse never sees it.
#}
{% macro rows_to_test(relation) %}
    {%- if not execute -%}{{ return('true') }}{%- endif -%}
    {%- set since = var('tests_since', env_var('PULSE_TESTS_SINCE', 'everything')) | string -%}
    {%- set models = chicago_point_datasets() | map(attribute=1) | list -%}
    {%- if since == 'everything' or relation.identifier not in models -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set loaded_at, geocoded_at = since, since -%}
    {%- if since == 'marts' -%}
        {%- set books = _mart_books(relation.schema) -%}
        {%- if load_relation(books.watermarks) is none -%}{{ return('true') }}{%- endif -%}
        {%- set marks = run_query(
            "select min(loaded_at)::text, min(geocoded_at)::text from " ~ books.watermarks
            ~ " where source = '" ~ relation.identifier ~ "'").rows[0] -%}
        {%- if marks[0] is none -%}{{ return('true') }}{%- endif -%}
        {%- set loaded_at, geocoded_at = marks[0] | string, marks[1] | string -%}
    {%- endif -%}
    {{ return("(loaded_at > '" ~ loaded_at | replace("'", "''") ~ "'::timestamptz"
        ~ " or geocoded_at > '" ~ geocoded_at | replace("'", "''") ~ "'::timestamptz)") }}
{% endmacro %}

{#
    dbt's own get_where_subquery (the `where` config of a data test), with
    __changed_rows__ replaced by rows_to_test(): the override dbt's
    documentation gives for a `where` that needs a macro.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__changed_rows__' in where -%}
        {%- set where = where | replace('__changed_rows__', rows_to_test(relation)) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
