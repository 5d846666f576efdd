{#
    One row per country (not aggregates) with any value: its region and
    income group, and for every indicator its latest value and that value's
    year. The indicator columns follow the data: the canonical indicators
    always, plus any other indicator the enriched table holds (adding one to
    pipelines/worldbank/indicators.yml is a line, and the profile gets its
    two columns on the next build).
#}

{%- set indicators = country_indicators(
    ref('int_countries__indicator_years')
) %}

with

indicator_years as (
    select * from {{ ref('int_countries__indicator_years') }}
    where not is_aggregate
),

latest as (
    select distinct on (country_code, indicator)
        country_code,
        indicator,
        year,
        {{ rounded('value') }} as value
    from indicator_years
    order by country_code, indicator, year desc
),

countries as (
    select distinct
        country_code,
        country_name,
        region,
        income_level
    from indicator_years
),

profile as (
    select
        countries.country_code,
        countries.country_name,
        countries.region,
        countries.income_level,
    {%- for indicator in indicators %}
        max(latest.value) filter (
            where latest.indicator = '{{ indicator }}'
        ) as {{ indicator }},
        max(latest.year) filter (
            where latest.indicator = '{{ indicator }}'
        ) as {{ indicator }}_year
        {{- ',' if not loop.last }}
    {%- endfor %}
    from countries
    left join latest
        on countries.country_code = latest.country_code
    group by
        countries.country_code,
        countries.country_name,
        countries.region,
        countries.income_level
)

select * from profile
