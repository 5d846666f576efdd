{#
    Every value Pulse knows of an indicator for an economy and year, from
    either provider. The World Bank is preferred: its value is used whenever
    it has one, and the OECD's fills in the years (and areas) it lacks; both
    are kept, with how far apart they are where both exist.

    An area the World Bank does not know (the OECD's OECD, EU27_2020) counts as
    an aggregate: the country reports show countries only.
#}

{{
    config(
        indexes=[
            {'columns': ['country_code', 'indicator', 'year'], 'unique': true},
            {'columns': ['indicator', 'year']},
        ],
    )
}}

with

worldbank as (
    select * from {{ ref('stg_worldbank__indicator_values') }}
    where country_code is not null
),

oecd as (
    select
        country_code,
        indicator,
        year,
        value
    from {{ ref('stg_oecd__population') }}
    union all
    select
        country_code,
        indicator,
        year,
        value
    from {{ ref('stg_oecd__life_expectancy') }}
    union all
    select
        country_code,
        indicator,
        year,
        value
    from {{ ref('stg_oecd__gdp') }}
),

countries as (
    select * from {{ ref('stg_worldbank__countries') }}
),

keys as (
    select
        country_code,
        indicator,
        year
    from worldbank
    union
    select
        country_code,
        indicator,
        year
    from oecd
),

combined as (
    select
        keys.country_code,
        keys.indicator,
        keys.year,
        coalesce(worldbank.value, oecd.value) as value,
        case
            when worldbank.value is not null then 'worldbank' else 'oecd'
        end as provider,
        worldbank.value as worldbank_value,
        oecd.value as oecd_value,
        (oecd.value - worldbank.value)
        / nullif(abs(worldbank.value), 0) * 100 as providers_differ_pct,
        coalesce(
            countries.country_name, worldbank.country_name, keys.country_code
        ) as country_name,
        coalesce(countries.is_aggregate, true) as is_aggregate,
        countries.region,
        countries.income_level
    from keys
    left join worldbank
        on keys.country_code = worldbank.country_code
        and keys.indicator = worldbank.indicator
        and keys.year = worldbank.year
    left join oecd
        on keys.country_code = oecd.country_code
        and keys.indicator = oecd.indicator
        and keys.year = oecd.year
    left join countries
        on keys.country_code = countries.country_code
)

select * from combined
