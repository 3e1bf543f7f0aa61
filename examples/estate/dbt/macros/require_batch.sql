{#- A pre-hook: fail the model while its input does not hold the day's batch yet (the load has
    not landed it). The error names the input, so Sutura can tell the cause is upstream. -#}
{% macro require_batch(relation) %}
  {%- set day = var('batch_date', none) -%}
  {%- if day -%}
    select error('{{ relation }} has no rows for batch {{ day }}: waiting for its load')
    where not exists (select 1 from {{ relation }} where batch_date = '{{ day }}')
  {%- else -%}
    select 1
  {%- endif -%}
{% endmacro %}
