{#- One results row (without the invocation-wide fields) for a dbt node result. -#}
{% macro _node_result_row(result) -%}
  {%- set node = result.node -%}
  {%- set execute_timing = result.timing | selectattr('name', 'equalto', 'execute') | list -%}
  {%- set outcome = sutura._stash_get('outcomes', node.unique_id, {}) -%}
  {%- set materialized = node.config.get('materialized') -%}
  {%- set audit_outcome = outcome.get('outcome') -%}
  {%- if audit_outcome is none and materialized == 'write_audit_publish' and (result.status | string) == 'error' -%}
    {%- set audit_outcome = 'failed_write' -%}
  {%- endif -%}
  {%- set adapter_response = result.adapter_response or {} -%}
  {%- set parent = node.attached_node if node.attached_node is defined else none -%}
  {{ return({
      'result_id': invocation_id ~ ':' ~ node.unique_id,
      'result_kind': 'node',
      'node_id': node.unique_id, 'parent_node_id': parent,
      'resource_type': node.resource_type | string, 'node_name': node.name,
      'package_name': node.package_name, 'materialization': materialized,
      'database_name': node.database, 'schema_name': node.schema,
      'relation_name': node.relation_name,
      'status': result.status | string, 'failures': result.failures,
      'message': result.message, 'execution_time_s': result.execution_time,
      'rows_affected': adapter_response.get('rows_affected'),
      'started_at': execute_timing[0].started_at if execute_timing else none,
      'completed_at': execute_timing[0].completed_at if execute_timing else none,
      'audit_outcome': audit_outcome,
      'audit_relation': outcome.get('audit_relation'),
      'quarantine_relation': outcome.get('quarantine_relation'),
      'failed_checks': outcome.get('failed_checks') or none,
      'thread_id': result.thread_id}) }}
{%- endmacro %}
