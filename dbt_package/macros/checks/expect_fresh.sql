{#- Inline check: the newest value of `column` is younger than `max_age`, an interval
    such as '1 day' or '6 hours' (timestamps without a time zone are taken as UTC). -#}
{% macro expect_fresh(column, max_age, severity='error') -%}
  {{ return(adapter.dispatch('expect_fresh', 'sutura')(column, max_age, severity)) }}
{%- endmacro %}

{% macro default__expect_fresh(column, max_age, severity) -%}
  {{ return({'check': 'fresh', 'column': column, 'max_age': max_age, 'severity': severity}) }}
{%- endmacro %}
