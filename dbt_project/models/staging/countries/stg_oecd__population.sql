{#
    OECD population totals: one row per area and year (grain: country_code,
    year), both sexes (SEX _T) and all ages (AGE _T), in persons. Values
    are scaled to units (obs_value * 10^unit_mult: a few areas report
    thousands). Annual periods only; an empty observation is no observation.
#}

with

source as (
    {{ loaded_source('oecd', 'population', {
        'dataflow': 'text',
        'ref_area': 'text',
        'measure': 'text',
        'unit_measure': 'text',
        'sex': 'text',
        'age': 'text',
        'series_key': 'text',
        'time_period': 'text',
        'obs_value': 'double precision',
        'unit_mult': 'integer',
        'obs_status': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

totals as (
    select
        ref_area as country_code,
        -- guarded: the planner may evaluate a pushed-down filter on year
        -- before the pattern test below
        case
            when time_period ~ '^\d{4}$' then time_period::integer
        end as year,
        'population' as indicator,
        obs_value * power(10, coalesce(unit_mult, 0)) as value,
        dataflow,
        series_key,
        obs_status,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
    where measure = 'POP'
        and unit_measure = 'PS'
        and sex = '_T'
        and age = '_T'
        and time_period ~ '^\d{4}$'
        and obs_value is not null
)

select * from totals
