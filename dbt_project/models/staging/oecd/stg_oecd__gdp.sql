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
    {{ oecd_observations('gdp_usd', {
        'freq': 'A',
        'measure': 'B1GQ_V',
        'unit_measure': 'USD'
    }) }}
)

select * from in_usd
