{#
    Marts rebuilt by month: an incremental monthly mart deletes and rebuilds
    the months the rows it counts have touched since its last build, and no
    other. A month is touched by a row that is new or revised (a newer
    loaded_at), by a row whose ZIP or area the geocoder answered anew (a newer
    geocoded_at: its month is the same, its group is not), and by the month a
    revised or newly rejected row leaves: the enriched model no longer holds
    it, so its pre-hook notes it first (note_vacated_months). Rebuilding a
    month recounts it whole from the enriched rows, so a group a row left
    shrinks, and a group left empty is gone.

    Two tables beside the enriched models keep what that needs:
    - mart_vacated_months (source, month, loaded_at): the month each row of
      `source` was counted in before the load `loaded_at` revised or rejected
      it. One row per month and load, not per row.
    - mart_watermarks (mart, source, loaded_at, geocoded_at): the newest
      loaded_at (of the source and of its vacated months) and geocoded_at the
      mart has counted, written by the mart's post-hook in the transaction
      that rebuilds it. A mart whose build fails, or is skipped because a test
      failed, keeps its old watermarks and takes the same months next time.
    A mart without watermarks for a source (its first incremental build since
    it was a table, or since the source was fully rebuilt, which forgets them)
    rebuilds every month of that source.

    Exact because a build is alone: pulse.dbt.BUILD_LOCK lets one dbt build
    write at a time, so no enriched row changes between the mart's read and
    its post-hook. A mart rebuilt by month names its month column (and its
    dataset column, if it counts several datasets) and the datasets it counts
    (default: all of chicago_point_datasets()) in three places: its import
    CTE reads `where {{ touched_months_filter(...) }}`, its pre-hook is
    delete_touched_months(...) and its post-hook record_mart_watermarks(...).
#}

{#- (dataset, enriched model, key, month column) of every point dataset -#}
{% macro chicago_point_datasets() %}
    {{ return([
        ('crimes', 'int_chicago__crimes_enriched', 'crime_id', 'occurred_month'),
        ('service_requests', 'int_chicago__service_requests_enriched',
         'service_request_id', 'created_month'),
        ('traffic_crashes', 'int_chicago__traffic_crashes_enriched', 'crash_id', 'crashed_month'),
        ('building_permits', 'int_chicago__building_permits_enriched', 'permit_id', 'issued_month'),
        ('food_inspections', 'int_chicago__food_inspections_enriched',
         'inspection_id', 'inspection_month'),
    ]) }}
{% endmacro %}

{% macro _mart_books(schema) %}
    {{ return({
        'watermarks': api.Relation.create(
            database=target.database, schema=schema, identifier='mart_watermarks'),
        'vacated': api.Relation.create(
            database=target.database, schema=schema, identifier='mart_vacated_months'),
    }) }}
{% endmacro %}

{#
    on-run-start (dbt_project.yml): creates the two tables when missing, once,
    before models run in parallel; two hooks creating a table at once would
    collide in the catalog. Only where the enriched schema exists: Pulse's
    roles create it (pulse/roles.py), or dbt, for a run that builds a model.
#}
{% macro create_mart_books() %}
    {%- set schema = generate_schema_name('enriched', none) | trim -%}
    {%- if execute and adapter.check_schema_exists(target.database, schema) -%}
        {{ _create_mart_books(_mart_books(schema)) }}
    {%- endif -%}
{% endmacro %}

{% macro _create_mart_books(books) %}
    create table if not exists {{ books.watermarks }} (
        mart text not null,
        source text not null,
        loaded_at timestamptz not null,
        geocoded_at timestamptz not null,
        primary key (mart, source)
    );
    create table if not exists {{ books.vacated }} (
        source text not null,
        month date,
        loaded_at timestamptz not null
    );
{% endmacro %}

{#
    Pre-hook of an enriched point model, before drop_newly_rejected: notes the
    months of this table's rows that the new loads revise or reject, which
    the build is about to replace or delete. All of them, not only those whose
    month changes: a revised row's new month is touched anyway, so the extra
    months cost nothing more. A full build instead forgets the marts'
    watermarks for this table: they rebuild every month of it next time.
#}
{% macro note_vacated_months(staging, key, month_column) %}
    {%- set books = _mart_books(this.schema) -%}
    {% if is_incremental() %}
        insert into {{ books.vacated }} (source, month, loaded_at)
        select distinct
            '{{ this.identifier }}' as source,
            built.{{ month_column }} as month,
            staged.loaded_at
        from {{ this }} as built
        inner join {{ staging }} as staged
            on built.{{ key }} = staged.{{ key }}
        where staged.loaded_at > (select max(loaded_at) from {{ this }})
    {% else %}
        delete from {{ books.watermarks }} where source = '{{ this.identifier }}';
        delete from {{ books.vacated }} where source = '{{ this.identifier }}'
    {% endif %}
{% endmacro %}

{#- [(dataset, relation, month column)] of `datasets` (default: every point dataset) -#}
{% macro _month_sources(datasets=none) %}
    {%- set sources = [] -%}
    {%- for dataset, model, key, month in chicago_point_datasets()
        if datasets is none or dataset in datasets -%}
        {%- do sources.append((dataset, ref(model), month)) -%}
    {%- endfor -%}
    {{ return(sources) }}
{% endmacro %}

{#
    {dataset: none, every month; or [month, ...], the touched ones} of this
    build. None for every dataset on a full build, and for a dataset the mart
    has no watermark for.
#}
{% macro touched_months(datasets=none) %}
    {%- set sources = _month_sources(datasets) -%}
    {%- set touched = {} -%}
    {%- for dataset, relation, month in sources -%}
        {%- do touched.update({dataset: none}) -%}
    {%- endfor -%}
    {#- Not while parsing, nor in a unit test (`this` is then a fixture's name) -#}
    {%- if not (execute and is_incremental()) or this is string -%}
        {{ return(touched) }}
    {%- endif -%}
    {%- set books = _mart_books(sources[0][1].schema) -%}
    {%- if load_relation(books.watermarks) is none -%}{{ return(touched) }}{%- endif -%}
    {%- set marks = {} -%}
    {%- for source, loaded_at, geocoded_at in run_query(
        "select source, loaded_at::text, geocoded_at::text from " ~ books.watermarks
        ~ " where mart = '" ~ this.identifier ~ "'").rows -%}
        {%- do marks.update({source: (loaded_at | string, geocoded_at | string)}) -%}
    {%- endfor -%}
    {%- set queries = [] -%}
    {%- for dataset, relation, month in sources if relation.identifier in marks -%}
        {%- do touched.update({dataset: []}) -%}
        {%- set loaded_at, geocoded_at = marks[relation.identifier] -%}
        {%- do queries.append(_touched_months_sql(
            books, dataset, relation, month, loaded_at, geocoded_at)) -%}
    {%- endfor -%}
    {%- if queries -%}
        {%- set found = run_query(queries | join('\nunion\n')) -%}
        {%- for row in found.rows -%}
            {%- do touched[row[0]].append(row[1] | string) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(touched) }}
{% endmacro %}

{#
    The months of `relation` touched since this mart's watermarks: its rows
    loaded or geocoded since, and the months rows left since. The watermarks
    are literals (text of a timestamptz: every microsecond, and its offset),
    not sub-queries, so the planner sees how few rows are that new and takes
    the loaded_at and geocoded_at indexes.
#}
{% macro _touched_months_sql(books, dataset, relation, month, loaded_at, geocoded_at) %}
    select '{{ dataset }}' as dataset, {{ month }} as month
    from {{ relation }}
    where {{ month }} is not null
        and (
            loaded_at > '{{ loaded_at }}'::timestamptz
            or geocoded_at > '{{ geocoded_at }}'::timestamptz
        )
    union
    select '{{ dataset }}' as dataset, month
    from {{ books.vacated }}
    where source = '{{ relation.identifier }}'
        and month is not null
        and loaded_at > '{{ loaded_at }}'::timestamptz
{% endmacro %}

{#
    A condition on this mart's columns (`month_column`, and `dataset_column`
    when it counts several datasets): the rows of the months touched. Every
    row while parsing (and linting).
#}
{% macro touched_months_filter(month_column, datasets=none, dataset_column=none, touched=none) %}
    {%- if not execute -%}{{ return('(true)') }}{%- endif -%}
    {%- set conditions = [] -%}
    {%- for dataset, months in (touched or touched_months(datasets)).items() -%}
        {%- set of_dataset = (dataset_column ~ " = '" ~ dataset ~ "'")
            if dataset_column else 'true' -%}
        {%- if months is none -%}
            {%- do conditions.append(of_dataset) -%}
        {%- elif months -%}
            {%- do conditions.append('(' ~ of_dataset ~ ' and ' ~ month_column ~ " in ('"
                ~ months | sort | join("', '") ~ "'))") -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return('(' ~ (conditions | join(' or ') if conditions else 'false') ~ ')') -}}
{% endmacro %}

{#- Pre-hook of a mart rebuilt by month: deletes the months it rebuilds -#}
{% macro delete_touched_months(month_column, datasets=none, dataset_column=none) %}
    {% if is_incremental() %}
        {%- set touched = touched_months(datasets) -%}
        {%- set every = touched.values() | select('none') | list | length -%}
        {%- set months = touched.values() | reject('none') | map('length') | sum -%}
        {% do log(this ~ ': rebuilding ' ~ months ~ ' touched month(s)'
            ~ ((', and every month of ' ~ every ~ ' dataset(s) it has no watermarks for')
               if every else ''), info=true) %}
        delete from {{ this }}
        where {{ touched_months_filter(month_column, datasets, dataset_column, touched) }}
    {% endif %}
{% endmacro %}

{#
    Post-hook of a mart rebuilt by month: what it has now counted of each
    source, and the vacated months every mart has counted are dropped.
#}
{% macro record_mart_watermarks(datasets=none) %}
    {%- set sources = _month_sources(datasets) -%}
    {%- set books = _mart_books(sources[0][1].schema) -%}
    {% for dataset, relation, month in sources %}
        insert into {{ books.watermarks }} as marks (mart, source, loaded_at, geocoded_at)
        select
            '{{ this.identifier }}' as mart,
            '{{ relation.identifier }}' as source,
            greatest(
                (select coalesce(max(loaded_at), '-infinity') from {{ relation }}),
                (
                    select coalesce(max(loaded_at), '-infinity') from {{ books.vacated }}
                    where source = '{{ relation.identifier }}'
                )
            ) as loaded_at,
            (
                select coalesce(max(geocoded_at), '-infinity') from {{ relation }}
            ) as geocoded_at
        on conflict (mart, source) do update
            set loaded_at = excluded.loaded_at, geocoded_at = excluded.geocoded_at;
        delete from {{ books.vacated }}
        where source = '{{ relation.identifier }}'
            and loaded_at <= (
                select min(loaded_at) from {{ books.watermarks }}
                where source = '{{ relation.identifier }}'
            );
    {% endfor %}
{% endmacro %}
