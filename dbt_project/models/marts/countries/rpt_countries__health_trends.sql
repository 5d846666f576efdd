{#
    Health per country and year: life expectancy, infant and under-5
    mortality, the crude death rate, and how life expectancy and under-5
    mortality changed over ten years (against exactly ten years earlier;
    NULL when either year has no value).
#}

{%- set measures = [
    'life_expectancy', 'infant_mortality', 'under5_mortality', 'death_rate',
] %}

with

country_years as (
    {{ country_years_wide(ref('int_countries__indicator_years'), measures) }}
),

trends as (
    select
        {{ country_year_columns('current_year', measures) }},
        current_year.life_expectancy
        - ten_years_before.life_expectancy as life_expectancy_change_10y,
        current_year.under5_mortality
        - ten_years_before.under5_mortality as under5_mortality_change_10y
    from country_years as current_year
    {{ join_years_before('country_years', 'ten_years_before', 10) }}
),

{# The published types, as the contract declares them (_countries__models.yml). #}
final as (
    select
        country_code::text as country_code,
        country_name::text as country_name,
        year::integer as year,
        {{ rounded('life_expectancy') }} as life_expectancy,
        {{ rounded('infant_mortality') }} as infant_mortality,
        {{ rounded('under5_mortality') }} as under5_mortality,
        {{ rounded('death_rate') }} as death_rate,
        {{ rounded('life_expectancy_change_10y') }} as life_expectancy_change_10y,
        {{ rounded('under5_mortality_change_10y') }} as under5_mortality_change_10y
    from trends
)

select * from final
