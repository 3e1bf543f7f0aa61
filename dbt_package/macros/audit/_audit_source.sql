{#- `source()` as a test sees it during an audit: the published source relation. -#}
{% macro _audit_source(source_name, table_name) -%}
  {%- for node in graph.sources.values()
        if node.source_name == source_name and node.name == table_name -%}
    {{ return(node.relation_name) }}
  {%- endfor -%}
  {%- do exceptions.raise_compiler_error(
      "Sutura audit: source('" ~ source_name ~ "', '" ~ table_name ~ "') is not defined.") -%}
{%- endmacro %}
