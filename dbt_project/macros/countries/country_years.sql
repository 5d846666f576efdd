{#
    The yearly country marts (rpt_countries__growth, __health_trends,
    __economy): each reads the wide country years once, then compares a year
    with exactly N years earlier of the same country.
#}

{#
    One row per (country, year) of countries (not aggregates) with at least
    one of `indicators`, each indicator a column: the wide shape of the yearly
    country marts. Reads the enriched table, where each value is non-null.
#}
{% macro country_years_wide(enriched, indicators) %}
    select
        country_code,
        country_name,
        year,
        {%- for indicator in indicators %}
        max(value) filter (where indicator = '{{ indicator }}') as {{ indicator }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ enriched }}
    where not is_aggregate
        and indicator in ('{{ indicators | join("', '") }}')
    group by country_code, country_name, year
{% endmacro %}

{#
    The first columns of a yearly country mart: the key (country_code,
    country_name, year) and each of `measures`, of the country_years_wide
    row `alias`.
#}
{% macro country_year_columns(alias, measures) -%}
    {{ alias }}.country_code,
        {{ alias }}.country_name,
        {{ alias }}.year,
        {%- for measure in measures %}
        {{ alias }}.{{ measure }}
        {{- ',' if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{#
    Joins to current_year (a row of `country_years`) the row of the same
    country exactly `years` years earlier, as `alias`. Without a row for that
    year its columns are NULL: never "the nearest year", so a gap shows.
#}
{% macro join_years_before(country_years, alias, years) -%}
    left join {{ country_years }} as {{ alias }}
        on current_year.country_code = {{ alias }}.country_code
        and current_year.year - {{ years }} = {{ alias }}.year
{%- endmacro %}
