{#
    Helpers of the country marts (int_countries__indicator_years and the
    rpt_countries__* reports built from it).
#}

{#
    The canonical indicator names of pipelines/worldbank/indicators.yml, in
    its order. The profile always has their columns; they are also the
    indicator list when the enriched table cannot be read (parsing, docs).
    Written out because dbt cannot read a file and nothing can derive a var
    from it for a bare `dbt build`; tests/dbt/test_indicator_list.py fails
    when this list, or the profile's documented columns, and the file differ.
#}
{% macro country_canonical_indicators() %}
    {{ return([
        'population', 'life_expectancy', 'infant_mortality', 'under5_mortality',
        'death_rate', 'gdp_usd', 'gdp_per_capita_usd', 'gdp_growth_pct',
        'revenue_pct_gdp', 'tax_revenue_pct_gdp', 'exports_usd', 'imports_usd',
    ]) }}
{% endmacro %}

{#
    Every indicator a profile shows: the canonical ones, then any other
    indicator the enriched table holds (a line added to indicators.yml), by
    name. Each becomes a column name, so each must be a plain lower-case SQL
    identifier; one that is not fails the build, saying which and where.
#}
{% macro country_indicators(enriched) %}
    {%- set names = country_canonical_indicators() -%}
    {%- if execute and load_relation(enriched) is not none -%}
        {%- set found = run_query(
            'select distinct indicator from ' ~ enriched ~ ' order by 1'
        ).columns[0].values() -%}
        {%- for name in found if name not in names -%}
            {%- do names.append(name) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name in names -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]{0,57}$', name) -%}
            {{ exceptions.raise_compiler_error(
                "indicator name " ~ (name | tojson) ~ " (raw_worldbank.indicators.name) "
                ~ "cannot be a column of the country profile: use lower-case letters, "
                ~ "digits and underscores, starting with a letter (pipelines/worldbank/"
                ~ "indicators.yml, or PULSE_WORLDBANK_INDICATORS' file)"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}

{#
    Year-over-year change in percent, (current / previous - 1) * 100: NULL
    unless both values exist and the previous one is positive.
#}
{% macro pct_change(current, previous) -%}
    case
        when {{ previous }} > 0
            then ({{ current }} / {{ previous }} - 1) * 100
    end
{%- endmacro %}

{#
    Compound annual growth rate in percent over `years` years,
    ((current / earlier) ^ (1 / years) - 1) * 100: NULL unless both values
    exist and are positive.
#}
{% macro cagr_pct(current, earlier, years) -%}
    case
        when {{ current }} > 0 and {{ earlier }} > 0
            then (power(
                {{ current }} / {{ earlier }},
                (1.0 / {{ years }})::double precision
            ) - 1) * 100
    end
{%- endmacro %}
