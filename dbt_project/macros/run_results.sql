{#
    The warehouse's own record of dbt's work: the latest result of every model,
    seed and data test (ops.dbt_results, one row each), written at the end of
    every dbt invocation whoever ran it (Dagster, `pulse build`, a bare dbt).
    `pulse serve` reads it as the analyst: when each report mart was last built
    (the API's ETag and Last-Modified) and which tests fail now (/health).

    A node the invocation did not select keeps its earlier row; a node it
    skipped is recorded as skipped, which /health reads as "not built since".
#}
{% macro record_results(results) %}
    {%- if not execute or not results -%}{{ return('') }}{%- endif -%}
    {%- set recorded = [] -%}
    {%- for result in results
        if result.node.resource_type in ['model', 'seed', 'test', 'snapshot'] -%}
        {%- do recorded.append(result) -%}
    {%- endfor -%}
    {%- if not recorded -%}{{ return('') }}{%- endif -%}
    {#- With roles on, pulse/roles.py creates it, owned by the transformer, who may not
        create schemas: even `create schema if not exists` needs that right. #}
    {%- if not adapter.check_schema_exists(target.database, 'ops') %}
    create schema ops;
    {%- endif %}
    create table if not exists ops.dbt_results (
        unique_id text primary key,
        resource_type text not null,
        name text not null,
        relation text,
        tested_node text,
        status text not null,
        failures bigint,
        message text,
        completed_at timestamptz not null,
        -- the last time it built or passed: a report's refreshed-at
        succeeded_at timestamptz
    );
    insert into ops.dbt_results
        (unique_id, resource_type, name, relation, tested_node, status, failures, message,
         completed_at, succeeded_at)
    values
    {%- for result in recorded %}
        (
            {{ _literal(result.node.unique_id) }},
            {{ _literal(result.node.resource_type) }},
            {{ _literal(result.node.name) }},
            {{ 'null' if result.node.resource_type == 'test'
               else _literal(result.node.schema ~ '.' ~ (result.node.alias or result.node.name)) }},
            {{ _literal(result.node.attached_node) if result.node.attached_node is defined
               and result.node.attached_node else 'null' }},
            {{ _literal(result.status) }},
            {{ result.failures if result.failures is not none else 'null' }},
            {{ _literal((result.message or '') | string | truncate(500, true)) }},
            now(),
            {{ 'now()' if result.status | string in ['success', 'pass'] else 'null' }}
        ){{ "," if not loop.last }}
    {%- endfor %}
    on conflict (unique_id) do update set
        resource_type = excluded.resource_type,
        name = excluded.name,
        relation = excluded.relation,
        tested_node = excluded.tested_node,
        status = excluded.status,
        failures = excluded.failures,
        message = excluded.message,
        completed_at = excluded.completed_at,
        succeeded_at = coalesce(excluded.succeeded_at, ops.dbt_results.succeeded_at);
    {%- set analyst = env_var('PULSE_ANALYST_ROLE', 'pulse_analyst') %}
    {%- if env_var('PULSE_ROLES', 'on') | trim | lower not in ['off', '0', 'false', 'no'] %}
    grant usage on schema ops to {{ adapter.quote(analyst) }};
    grant select on ops.dbt_results to {{ adapter.quote(analyst) }};
    {%- endif %}
{% endmacro %}

{# A SQL string literal of any text: quotes doubled (standard_conforming_strings). #}
{% macro _literal(text) -%}
    '{{ text | string | replace("'", "''") }}'
{%- endmacro %}
