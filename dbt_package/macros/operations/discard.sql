{#- Drop a model's quarantine without publishing it:
      dbt run-operation sutura.discard --args '{model_name: orders}'
    `identifier` drops an archived quarantine (`orders__sutura_quarantine_<stamp>`)
    instead. Records a `discard` row in the results table. -#}
{% macro discard(model_name, package_name=none, identifier=none) -%}
  {{ return(adapter.dispatch('discard', 'sutura')(model_name, package_name, identifier)) }}
{%- endmacro %}

{% macro default__discard(model_name, package_name=none, identifier=none) -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set node = sutura._find_model(model_name, package_name) -%}
  {%- set target_relation = sutura._model_relation(node) -%}
  {%- set quarantine = sutura.quarantine_relation(target_relation) -%}
  {%- if identifier is not none -%}
    {%- if not identifier.startswith(quarantine.identifier) -%}
      {%- do exceptions.raise_compiler_error("Sutura: '" ~ identifier ~ "' is not a quarantine of " ~ node.unique_id ~ ".") -%}
    {%- endif -%}
    {%- set quarantine = quarantine.incorporate(path={'identifier': identifier}) -%}
  {%- endif -%}
  {%- set held = adapter.get_relation(quarantine.database, quarantine.schema, quarantine.identifier) -%}
  {%- if held is none -%}
    {%- do exceptions.raise_compiler_error("Sutura: " ~ node.unique_id ~ " has no quarantine " ~ quarantine ~ " to discard.") -%}
  {%- endif -%}
  {%- set marker = sutura._quarantine_marker(held) or {} -%}
  {%- set started_at = modules.datetime.datetime.utcnow() -%}
  {%- do adapter.drop_relation(held) -%}
  {%- do adapter.commit() -%}
  {%- set row = sutura._common_result_fields() -%}
  {%- do row.update({
      'result_id': invocation_id ~ ':discard:' ~ node.unique_id, 'result_kind': 'discard',
      'node_id': node.unique_id, 'resource_type': 'model', 'node_name': node.name,
      'package_name': node.package_name, 'materialization': node.config.get('materialized'),
      'database_name': node.database, 'schema_name': node.schema,
      'relation_name': target_relation | string, 'status': 'success', 'failures': 0,
      'message': 'discarded ' ~ quarantine,
      'started_at': started_at, 'completed_at': modules.datetime.datetime.utcnow(),
      'audit_outcome': 'discarded', 'quarantine_relation': quarantine | string,
      'failed_checks': marker.get('failed_checks') or none}) -%}
  {%- do sutura._insert_result_rows([row]) -%}
  {{ log("Sutura: discarded " ~ quarantine, info=True) }}
  {{ return('') }}
{%- endmacro %}
