{#- Inline check: every row satisfies the SQL boolean `expression` (rows where it is
    false or null fail), e.g. sutura.expect_expression('amount >= 0'). -#}
{% macro expect_expression(expression, severity='error') -%}
  {{ return(adapter.dispatch('expect_expression', 'sutura')(expression, severity)) }}
{%- endmacro %}

{% macro default__expect_expression(expression, severity) -%}
  {{ return({'check': 'expression', 'expression': expression, 'severity': severity}) }}
{%- endmacro %}
