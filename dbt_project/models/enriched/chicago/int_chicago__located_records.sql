{#
    One row per record of every point dataset, with the month it happened
    and where (ZIP code and community area from its coordinates): the common
    shape the per-ZIP and per-area reports count. A view: it only renames, and
    a filter on dataset and month reaches each enriched model's month index.
    The datasets are chicago_point_datasets() (macros/monthly_marts.sql).
#}
{{ config(materialized='view') }}

{% for dataset, model, key, month in chicago_point_datasets() %}
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
