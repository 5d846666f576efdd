{#
    One row per record of every point dataset, with the month it happened
    and where (ZIP code and community area from its coordinates): the common
    shape the per-ZIP and per-area reports count. A view: it only renames.
#}
{{ config(materialized='view') }}

{% set datasets = [
    ('crimes', 'int_chicago__crimes_enriched', 'crime_id', 'occurred_month'),
    ('service_requests', 'int_chicago__service_requests_enriched', 'service_request_id', 'created_month'),
    ('traffic_crashes', 'int_chicago__traffic_crashes_enriched', 'crash_id', 'crashed_month'),
    ('building_permits', 'int_chicago__building_permits_enriched', 'permit_id', 'issued_month'),
    ('food_inspections', 'int_chicago__food_inspections_enriched', 'inspection_id', 'inspection_month'),
] %}

{% for dataset, model, key, month in datasets %}
    select
        '{{ dataset }}' as dataset,
        {{ key }}::text as record_id,
        {{ month }} as month,
        zip_code,
        community_area_number,
        has_coordinates
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
