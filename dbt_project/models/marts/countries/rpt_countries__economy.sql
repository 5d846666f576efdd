{#
    The economy per country and year: GDP, government revenue and tax
    revenue (% of GDP), exports and imports of goods and services, the trade
    balance and trade openness. Derived figures are NULL unless every value
    they need exists for that year.
#}

{%- set measures = [
    'gdp_usd', 'revenue_pct_gdp', 'tax_revenue_pct_gdp', 'exports_usd',
    'imports_usd',
] %}

with

country_years as (
    {{ country_years_wide(ref('int_countries__indicator_years'), measures) }}
),

economy as (
    select
        {{ country_year_columns('country_years', measures) }},
        country_years.exports_usd
        - country_years.imports_usd as trade_balance_usd,
        (country_years.exports_usd + country_years.imports_usd)
        / nullif(country_years.gdp_usd, 0) * 100 as trade_openness_pct
    from country_years
),

{# The published types, as the contract declares them (_countries__models.yml). #}
final as (
    select
        country_code::text as country_code,
        country_name::text as country_name,
        year::integer as year,
        {{ rounded('gdp_usd') }} as gdp_usd,
        {{ rounded('revenue_pct_gdp') }} as revenue_pct_gdp,
        {{ rounded('tax_revenue_pct_gdp') }} as tax_revenue_pct_gdp,
        {{ rounded('exports_usd') }} as exports_usd,
        {{ rounded('imports_usd') }} as imports_usd,
        {{ rounded('trade_balance_usd') }} as trade_balance_usd,
        {{ rounded('trade_openness_pct') }} as trade_openness_pct
    from economy
)

select * from final
