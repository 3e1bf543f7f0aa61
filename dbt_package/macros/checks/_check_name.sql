{#- A stable, readable name for an inline check spec, e.g. `row_count_between_1_100`. -#}
{% macro _check_name(spec) -%}
  {%- if spec.get('name') -%}
    {{ return(spec.name) }}
  {%- elif spec.check == 'row_count_between' -%}
    {%- set parts = ['row_count_between', spec.get('min_rows') | string, spec.get('max_rows') | string] -%}
  {%- elif spec.check == 'fresh' -%}
    {%- set parts = ['fresh', spec.column, spec.max_age] -%}
  {%- else -%}
    {%- set parts = [spec.check, spec.get('expression', '') | string] -%}
  {%- endif -%}
  {{ return(modules.re.sub('[^a-z0-9]+', '_', parts | join('_') | lower).strip('_')) }}
{%- endmacro %}
