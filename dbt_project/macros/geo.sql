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
    The incremental filter of an enriched model fed by a staging model: rows of
    dlt loads this table has not seen, and rows whose coordinates were geocoded
    after its last build (a boundary layer changed), so their ZIP and area follow.
#}
{% macro new_or_relocated(alias) %}
    {% if is_incremental() %}
        and (
            {{ alias }}.loaded_at > (
                select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }}
            )
            or exists (
                select 1 from {{ ref('stg_chicago__geocoded_points') }} as points
                where points.latitude = {{ alias }}.latitude
                    and points.longitude = {{ alias }}.longitude
                    and points.geocoded_at > (
                        select coalesce(max(built.geocoded_at), '-infinity'::timestamptz)
                        from {{ this }} as built
                    )
            )
        )
    {% endif %}
{% endmacro %}
