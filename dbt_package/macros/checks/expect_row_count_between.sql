{#- Inline check: the audited result has between `min_rows` and `max_rows` rows
    (either bound may be none). Use in a model's config:
      {{ config(materialized='write_audit_publish',
                meta={'sutura_checks': [sutura.expect_row_count_between(1, 10000)]}) }} -#}
{% macro expect_row_count_between(min_rows=none, max_rows=none, severity='error') -%}
  {{ return(adapter.dispatch('expect_row_count_between', 'sutura')(min_rows, max_rows, severity)) }}
{%- endmacro %}

{% macro default__expect_row_count_between(min_rows, max_rows, severity) -%}
  {{ return({'check': 'row_count_between', 'min_rows': min_rows, 'max_rows': max_rows, 'severity': severity}) }}
{%- endmacro %}
