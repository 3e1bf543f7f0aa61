{#- The fields every results row of this invocation shares. -#}
{% macro _common_result_fields() -%}
  {{ return({
      'invocation_id': invocation_id,
      'dbt_command': invocation_args_dict.get('which'),
      'target_name': target.name,
      'adapter_type': target.type,
      'dbt_version': dbt_version,
      'run_started_at': run_started_at,
      'recorded_at': modules.datetime.datetime.utcnow()}) }}
{%- endmacro %}
