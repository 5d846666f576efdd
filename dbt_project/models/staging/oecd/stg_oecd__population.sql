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
    {{ oecd_observations('population', {
        'measure': 'POP',
        'unit_measure': 'PS',
        'sex': '_T',
        'age': '_T'
    }) }}
)

select * from totals
