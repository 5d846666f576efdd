{#
    The ten countries with the highest latest value of each headline metric,
    for the country dashboard: each country's latest value as in the profile
    (its most recent year with a value), ranked highest first; equal values
    are ordered by country code, so ranks are 1..10 without gaps or ties.
#}

with

profile as (
    select * from {{ ref('rpt_countries__profile') }}
),

latest as (
    select
        profile.country_code,
        profile.country_name,
        metrics.metric,
        metrics.value,
        metrics.year
    from profile
    cross join
        lateral (
            values
            ('population', profile.population, profile.population_year),
            (
                'life_expectancy',
                profile.life_expectancy,
                profile.life_expectancy_year
            ),
            ('gdp_usd', profile.gdp_usd, profile.gdp_usd_year),
            (
                'gdp_per_capita_usd',
                profile.gdp_per_capita_usd,
                profile.gdp_per_capita_usd_year
            )
        ) as metrics (metric, value, year)
    where metrics.value is not null
),

ranked as (
    select
        metric,
        row_number() over (
            partition by metric
            order by value desc, country_code
        ) as rank,
        country_code,
        country_name,
        value,
        year
    from latest
),

{# The published types, as the contract declares them (_countries__models.yml). #}
final as (
    select
        metric::text as metric,
        rank::bigint as rank,
        country_code::text as country_code,
        country_name::text as country_name,
        {{ rounded('value') }} as value,
        year::integer as year
    from ranked
    where rank <= 10
)

select * from final
