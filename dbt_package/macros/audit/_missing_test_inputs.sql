{#- The relations a test reads, besides the audited model, that do not exist yet (e.g. an
    expected-output seed not built in this invocation). Such a test cannot run during the
    audit; dbt still runs it after the model is published. -#}
{% macro _missing_test_inputs(test_node, model_node) -%}
  {%- set missing = [] -%}
  {%- for unique_id in test_node.depends_on.nodes if unique_id != model_node.unique_id -%}
    {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
    {%- if node and node.resource_type in ['model', 'seed', 'snapshot', 'source']
          and node.get('config', {}).get('materialized') != 'ephemeral' -%}
      {%- set identifier = node.get('alias') or node.get('identifier') or node.name -%}
      {%- if adapter.get_relation(node.database, node.schema, identifier) is none -%}
        {%- do missing.append(unique_id) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(missing) }}
{%- endmacro %}
