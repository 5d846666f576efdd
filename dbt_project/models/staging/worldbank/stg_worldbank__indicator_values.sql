{#
    World Bank observations: one row per indicator, economy and year that has
    a value (grain: indicator, country_code, year). A NULL value is "no
    observation" and stays out.

    Two lookups, against the raw tables the same load wrote, turn the API's
    codes into Pulse's: the indicator's canonical name (raw indicators, from
    indicators.yml), and the economy's ISO3 / aggregate code where the row has
    no countryiso3code (some aggregates), through its two-character id.
    A value of an indicator missing from raw indicators has no name and is
    left out (the loader writes both in one load).
#}

with

indicator_values as (
    {{ loaded_source('worldbank', 'indicator_values', {
        'indicator_id': 'text',
        'country_id': 'text',
        'country_iso3': 'text',
        'country_name': 'text',
        'year': 'integer',
        'value': 'double precision',
        'obs_status': 'text',
        'last_updated': 'date',
        '_dlt_load_id': 'text',
    }) }}
),

indicators as (
    {{ loaded_source('worldbank', 'indicators', {
        'id': 'text',
        'name': 'text',
    }) }}
),

countries as (
    {{ loaded_source('worldbank', 'countries', {
        'id': 'text',
        'iso2_code': 'text',
    }) }}
),

observed as (
    select
        indicators.name as indicator,
        indicator_values.indicator_id,
        coalesce(
            nullif(trim(indicator_values.country_iso3), ''),
            countries.id
        ) as country_code,
        indicator_values.country_id as source_country_id,
        nullif(trim(indicator_values.country_name), '') as country_name,
        indicator_values.year,
        indicator_values.value,
        nullif(trim(indicator_values.obs_status), '') as obs_status,
        indicator_values.last_updated as source_updated_date,
        to_timestamp(
            indicator_values._dlt_load_id::double precision
        ) as loaded_at
    from indicator_values
    inner join indicators
        on indicator_values.indicator_id = indicators.id
    left join countries
        on nullif(trim(indicator_values.country_iso3), '') is null
        and indicator_values.country_id = countries.iso2_code
    where indicator_values.value is not null
        and indicator_values.year is not null
)

select * from observed
