{#- The graph node of the model called `model_name` (optionally in `package_name`);
    fails with the candidates' names when there is none or more than one. -#}
{% macro _find_model(model_name, package_name=none) -%}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == model_name
        and (package_name is none or node.package_name == package_name) -%}
    {%- do found.append(node) -%}
  {%- endfor -%}
  {%- if found | length != 1 -%}
    {%- do exceptions.raise_compiler_error(
        "Sutura: expected one model named '" ~ model_name ~ "', found "
        ~ (found | map(attribute='unique_id') | list) ~ ". Pass package_name to choose.") -%}
  {%- endif -%}
  {{ return(found[0]) }}
{%- endmacro %}
