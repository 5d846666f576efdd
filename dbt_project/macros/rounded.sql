{#
    A published measure: numeric, rounded to `places` decimals, without the
    zeros a fixed scale would print (trim_scale: 213114898, not 213114898.0 or
    213114898.00), so a report shows no float noise (-69618000.51, not
    -69618000.50999999). The marts' convention (docs/reports.md#numbers).
#}

{% macro rounded(expression, places=2) -%}
    trim_scale(round(({{ expression }})::numeric, {{ places }}))
{%- endmacro %}
