{#- The data tests that audit a model: generic tests attached to it and singular tests
    that read it, less those configured `sutura_audit: false` (config or meta). -#}
{% macro _audit_tests(model_node) -%}
  {%- set tests = [] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'test' -%}
    {%- set test_metadata = node.get('test_metadata') -%}
    {%- if test_metadata -%}
      {%- set audits_model = node.get('attached_node') == model_node.unique_id -%}
    {%- else -%}
      {%- set audits_model = model_node.unique_id in node.depends_on.nodes -%}
    {%- endif -%}
    {%- if audits_model and sutura._config_value(node.config, 'sutura_audit', true) -%}
      {%- do tests.append(node) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(tests | sort(attribute='unique_id')) }}
{%- endmacro %}
