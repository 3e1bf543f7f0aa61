{#- The failing-rows SQL of an inline check spec against `relation` (no rows = pass). -#}
{% macro _check_sql(spec, relation) -%}
  {%- if spec.check == 'row_count_between' -%}
    {%- set bounds = [] -%}
    {%- if spec.get('min_rows') is not none -%}{%- do bounds.append('n < ' ~ spec.min_rows) -%}{%- endif -%}
    {%- if spec.get('max_rows') is not none -%}{%- do bounds.append('n > ' ~ spec.max_rows) -%}{%- endif -%}
    {%- set sql -%}
      select n as row_count from (select count(*) as n from {{ relation }}) sutura_counted
      where {{ bounds | join(' or ') if bounds else 'false' }}
    {%- endset -%}
  {%- elif spec.check == 'fresh' -%}
    {%- set sql -%}
      select latest from (select max({{ spec.column }}) as latest from {{ relation }}) sutura_latest
      where latest is null or latest < {{ sutura._utc_now() }} - interval '{{ spec.max_age }}'
    {%- endset -%}
  {%- elif spec.check == 'expression' -%}
    {%- set sql -%}
      select * from {{ relation }} where not coalesce(({{ spec.expression }}), false)
    {%- endset -%}
  {%- else -%}
    {%- do exceptions.raise_compiler_error("Sutura: unknown inline check '" ~ spec.check ~ "'.") -%}
  {%- endif -%}
  {{ return(sql) }}
{%- endmacro %}
