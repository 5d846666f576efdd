{#
    The ZIP code and community area of a row, from its coordinates: joins the
    geocoded points (point-in-polygon, pipelines/geo) and the community area
    names (the chicago_community_areas seed's; 'Unknown' outside every area).
    Every enriched point model uses both, so zip_code, community_area_number,
    community_area_name and side mean the same in each. `source_area` names
    the row's own community area column, when the dataset has one, to flag
    rows where the portal and the polygon disagree.
#}

{% macro geo_joins(alias) %}
    left join {{ ref('stg_chicago__geocoded_points') }} as geo
        on {{ alias }}.latitude = geo.latitude
        and {{ alias }}.longitude = geo.longitude
    left join {{ ref('chicago_community_areas') }} as areas
        on geo.community_area_number = areas.community_area_id
{% endmacro %}

{% macro geo_columns(alias, source_area=none) %}
        geo.zip_code,
        geo.community_area_number,
        coalesce(areas.community_area_name, 'Unknown') as community_area_name,
        areas.side,
        ({{ alias }}.latitude is not null and {{ alias }}.longitude is not null)
        as has_coordinates,
        {%- if source_area %}
        coalesce(
            {{ alias }}.{{ source_area }} <> geo.community_area_number, false
        ) as community_area_mismatch,
        {%- endif %}
        geo.geocoded_at
{% endmacro %}

{#
    The rows an enriched point model takes from its staging model `staging`
    (keyed by `key`), rejected rows left out:
    - a full build: every row;
    - an incremental build: the rows of dlt loads this table has not seen
      (loaded_at after its newest; the raw table's loaded_at index makes that a
      range scan, pipelines/geo/geocode.py), and, only when some are, the rows
      already built whose coordinate pair the geocoder answered anew since this
      table's last build (geocoded_at after its newest): a boundary layer
      redrawn (only the pairs it moved get a new time), or a pair first located
      after its rows were built.
    Whether there are such rows is asked before the build (one index probe, the
    pairs located since then joined to this table), and the second branch is
    left out of the SQL when there are none: a filter holding a sub-query
    (`or exists (...)`) is not pushed below the staging view, and every refresh
    would then read the whole raw table.
#}
{% macro new_or_relocated(staging, key) %}
    select * from {{ staging }} as staged
    where staged.reject_reason is null
    {% if is_incremental() %}
        and staged.loaded_at > ({{ _newest(this, 'loaded_at') }})
        {% if _relocated_rows_exist(key) %}
    union all
    select staged.* from {{ staging }} as staged
    inner join ({{ _relocated_keys(key) }}) as relocated
        on staged.{{ key }} = relocated.{{ key }}
    where staged.reject_reason is null
        and staged.loaded_at <= ({{ _newest(this, 'loaded_at') }})
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro _newest(relation, column) %}
    select coalesce(max({{ column }}), '-infinity'::timestamptz) from {{ relation }}
{% endmacro %}

{% macro _relocated_keys(key) %}
    select built.{{ key }}
    from {{ this }} as built
    inner join {{ ref('stg_chicago__geocoded_points') }} as points
        on built.latitude = points.latitude
        and built.longitude = points.longitude
    where points.geocoded_at > ({{ _newest(this, 'geocoded_at') }})
{% endmacro %}

{% macro _relocated_rows_exist(key) %}
    {# Not while parsing, and not in a unit test (`this` is then a fixture's name):
       the tests/dbt integration tests cover this branch on real tables. #}
    {% if not execute or this is string %}{{ return(false) }}{% endif %}
    {# A table built before geocoding existed gets its geocoded_at from a pre-hook,
       which runs after this: every located row is then rebuilt once. #}
    {% if 'geocoded_at' not in adapter.get_columns_in_relation(this) | map(attribute='name') %}
        {{ return(true) }}
    {% endif %}
    {% set found = run_query('select exists (' ~ _relocated_keys(key) ~ ')') %}
    {% set relocated = found.columns[0].values()[0] %}
    {% if relocated %}
        {% do log(this ~ ': rebuilding the rows whose coordinates were located anew', info=true) %}
    {% endif %}
    {{ return(relocated) }}
{% endmacro %}
