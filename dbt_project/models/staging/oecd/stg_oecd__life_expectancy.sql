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
    {{ oecd_observations('life_expectancy', {
        'freq': 'A',
        'measure': 'LFEXP',
        'unit_measure': 'Y',
        'sex': '_T',
        'age': 'Y0',
        'socio_econ_status': '_T',
        'death_cause': '_T'
    }) }}
)

select * from at_birth
