{#
    Fails with one row per combination of `combination_of_columns` that occurs
    more than once. NULLs compare equal (group by semantics), so a NULL key
    column is its own bucket, as in the report marts.
    Written here because dbt hub packages (dbt_utils) are not installed.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set column_list = combination_of_columns | join(', ') %}

with

validation as (
    select
        {{ column_list }},
        count(*) as row_count
    from {{ model }}
    group by {{ column_list }}
),

validation_errors as (
    select *
    from validation
    where row_count > 1
)

select * from validation_errors

{% endtest %}
