{#
    OECD gross domestic product in current US dollars: one row per area and
    year (grain: country_code, year), UNIT_MEASURE USD (the national-currency
    series, XDC, are left out). Values are scaled to dollars (obs_value *
    10^unit_mult: areas report thousands, millions or billions). Annual
    observations only (FREQ A); an empty observation is no observation.
#}

with

source as (
    {{ loaded_source('oecd', 'gdp', {
        'dataflow': 'text',
        'ref_area': 'text',
        'measure': 'text',
        'unit_measure': 'text',
        'freq': 'text',
        'series_key': 'text',
        'time_period': 'text',
        'obs_value': 'double precision',
        'unit_mult': 'integer',
        'obs_status': 'text',
        'currency': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

in_usd as (
    select
        ref_area as country_code,
        -- guarded: the planner may evaluate a pushed-down filter on year
        -- before the pattern test below
        case
            when time_period ~ '^\d{4}$' then time_period::integer
        end as year,
        'gdp_usd' as indicator,
        obs_value * power(10, coalesce(unit_mult, 0)) as value,
        dataflow,
        series_key,
        obs_status,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
    where freq = 'A'
        and measure = 'B1GQ_V'
        and unit_measure = 'USD'
        and time_period ~ '^\d{4}$'
        and obs_value is not null
)

select * from in_usd
