{#- Run one audit query the way dbt runs a data test (fail_calc, warn_if, error_if,
    limit, severity) and return {'status': pass|warn|fail, 'failures': n}. -#}
{% macro _evaluate_audit_query(main_sql, fail_calc='count(*)', warn_if='!= 0', error_if='!= 0', limit=none, severity='error') -%}
  {%- set query = get_test_sql(main_sql, fail_calc or 'count(*)', warn_if or '!= 0', error_if or '!= 0', limit) -%}
  {%- set row = run_query(query).rows[0] -%}
  {%- set failures = row[0] | int if row[0] is not none else 0 -%}
  {%- if (severity or 'error') | lower == 'error' and row[2] -%}
    {%- set status = 'fail' -%}
  {%- elif row[1] -%}
    {%- set status = 'warn' -%}
  {%- else -%}
    {%- set status = 'pass' -%}
  {%- endif -%}
  {{ return({'status': status, 'failures': failures}) }}
{%- endmacro %}
