{#
    Population and GDP growth per country and year: year-over-year change,
    and compound annual growth over 5 and 10 years. Each compares with the
    value of exactly that many years earlier; when that year has no value the
    rate is NULL (never "the nearest year"), so a gap in the series shows.
#}

{%- set measures = ['population', 'gdp_usd'] %}

with

country_years as (
    {{ country_years_wide(ref('int_countries__indicator_years'), measures) }}
),

growth as (
    select
        {{ country_year_columns('current_year', measures) }},
    {%- for measure in measures %}
        {{ pct_change(
            'current_year.' ~ measure, 'year_before.' ~ measure
        ) }} as {{ measure }}_yoy_pct,
        {{ cagr_pct(
            'current_year.' ~ measure, 'five_years_before.' ~ measure, 5
        ) }} as {{ measure }}_cagr_5y_pct,
        {{ cagr_pct(
            'current_year.' ~ measure, 'ten_years_before.' ~ measure, 10
        ) }} as {{ measure }}_cagr_10y_pct
        {{- ',' if not loop.last }}
    {%- endfor %}
    from country_years as current_year
    {{ join_years_before('country_years', 'year_before', 1) }}
    {{ join_years_before('country_years', 'five_years_before', 5) }}
    {{ join_years_before('country_years', 'ten_years_before', 10) }}
),

{# The published types, as the contract declares them (_countries__models.yml). #}
final as (
    select
        country_code::text as country_code,
        country_name::text as country_name,
        year::integer as year,
        round(population)::bigint as population,
        {{ rounded('gdp_usd') }} as gdp_usd,
        {{ rounded('population_yoy_pct') }} as population_yoy_pct,
        {{ rounded('population_cagr_5y_pct') }} as population_cagr_5y_pct,
        {{ rounded('population_cagr_10y_pct') }} as population_cagr_10y_pct,
        {{ rounded('gdp_usd_yoy_pct') }} as gdp_usd_yoy_pct,
        {{ rounded('gdp_usd_cagr_5y_pct') }} as gdp_usd_cagr_5y_pct,
        {{ rounded('gdp_usd_cagr_10y_pct') }} as gdp_usd_cagr_10y_pct
    from growth
)

select * from final
