{#
    oecd_observations(indicator, where): an OECD staging model's select: the
    series of `where` (a dict of dimension column -> code, e.g. the totals),
    one row per area and year, the value scaled to units by UNIT_MULT (a power
    of ten), annual periods and non-empty observations only. The model's
    `source` CTE (loaded_source) is what it reads.
#}
{% macro oecd_observations(indicator, where) -%}
    select
        ref_area as country_code,
        -- guarded: the planner may evaluate a pushed-down filter on year
        -- before the pattern test below
        case
            when time_period ~ '^\d{4}$' then time_period::integer
        end as year,
        '{{ indicator }}' as indicator,
        obs_value * power(10, coalesce(unit_mult, 0)) as value,
        dataflow,
        series_key,
        obs_status,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
    where time_period ~ '^\d{4}$'
        and obs_value is not null
    {%- for column, code in where.items() %}
        and {{ column }} = '{{ code }}'
    {%- endfor %}
{%- endmacro %}
