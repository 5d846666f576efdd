{#
    World Bank economies: one row per country (its ISO3 code) or aggregate
    (region, income group, WLD, ...). Blanks become NULL; an aggregate's
    region and income level ('Aggregates') are NULL, since it has neither.
#}

with

source as (
    {{ loaded_source('worldbank', 'countries', {
        'id': 'text',
        'iso2_code': 'text',
        'name': 'text',
        'region_id': 'text',
        'region_name': 'text',
        'income_level_id': 'text',
        'income_level_name': 'text',
        'lending_type_id': 'text',
        'capital_city': 'text',
        'longitude': 'double precision',
        'latitude': 'double precision',
        'is_aggregate': 'boolean',
        '_dlt_load_id': 'text',
    }) }}
),

renamed as (
    select
        nullif(trim(id), '') as country_code,
        nullif(trim(iso2_code), '') as iso2_code,
        nullif(trim(name), '') as country_name,
        coalesce(is_aggregate, false) as is_aggregate,
        case
            when not coalesce(is_aggregate, false)
                then nullif(trim(region_id), '')
        end as region_id,
        case
            when not coalesce(is_aggregate, false)
                then nullif(trim(region_name), '')
        end as region,
        case
            when not coalesce(is_aggregate, false)
                then nullif(trim(income_level_id), '')
        end as income_level_id,
        case
            when not coalesce(is_aggregate, false)
                then nullif(trim(income_level_name), '')
        end as income_level,
        case
            when not coalesce(is_aggregate, false)
                then nullif(trim(lending_type_id), '')
        end as lending_type,
        nullif(trim(capital_city), '') as capital_city,
        longitude,
        latitude,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
)

select * from renamed
