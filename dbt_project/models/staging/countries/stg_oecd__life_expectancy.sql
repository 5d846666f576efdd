{#
    OECD life expectancy at birth: one row per area and year (grain:
    country_code, year), both sexes (SEX _T), at birth (AGE Y0), every
    socio-economic status and cause of death (_T), in years. Annual
    observations only (FREQ A); an empty observation is no observation.
#}

with

source as (
    {{ loaded_source('oecd', 'life_expectancy', {
        'dataflow': 'text',
        'ref_area': 'text',
        'freq': 'text',
        'measure': 'text',
        'unit_measure': 'text',
        'sex': 'text',
        'age': 'text',
        'socio_econ_status': 'text',
        'death_cause': 'text',
        'series_key': 'text',
        'time_period': 'text',
        'obs_value': 'double precision',
        'unit_mult': 'integer',
        'obs_status': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

at_birth as (
    select
        ref_area as country_code,
        -- guarded: the planner may evaluate a pushed-down filter on year
        -- before the pattern test below
        case
            when time_period ~ '^\d{4}$' then time_period::integer
        end as year,
        'life_expectancy' as indicator,
        obs_value * power(10, coalesce(unit_mult, 0)) as value,
        dataflow,
        series_key,
        obs_status,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
    where freq = 'A'
        and measure = 'LFEXP'
        and unit_measure = 'Y'
        and sex = '_T'
        and age = 'Y0'
        and socio_econ_status = '_T'
        and death_cause = '_T'
        and time_period ~ '^\d{4}$'
        and obs_value is not null
)

select * from at_birth
