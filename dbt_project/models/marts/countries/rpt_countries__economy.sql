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
        gdp_usd::double precision as gdp_usd,
        revenue_pct_gdp::double precision as revenue_pct_gdp,
        tax_revenue_pct_gdp::double precision as tax_revenue_pct_gdp,
        exports_usd::double precision as exports_usd,
        imports_usd::double precision as imports_usd,
        trade_balance_usd::double precision as trade_balance_usd,
        trade_openness_pct::double precision as trade_openness_pct
    from economy
)

select * from final
