{#
    Use a folder's custom schema as is (`staging`, not `public_staging`):
    every layer has one fixed schema in the warehouse, shared by Dagster and
    the BI tools. Models without a custom schema fall back to the target's.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
