{#- `ref()` as a test sees it during an audit: the model being audited resolves to the
    relation under audit, any other model, seed or snapshot to its published relation. -#}
{% macro _audit_ref(first, second=none, version=none, v=none) -%}
  {%- set package_name = first if second is not none else none -%}
  {%- set name = second if second is not none else first -%}
  {%- set version = version if version is not none else v -%}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'seed', 'snapshot'] and node.name == name
        and (package_name is none or node.package_name == package_name) -%}
    {%- if version is none or (node.get('version') | string) == (version | string) -%}
      {%- do found.append(node) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if found | length > 1 -%}
    {%- set latest = found | selectattr('version', 'equalto', found[0].get('latest_version')) | list -%}
    {%- set found = latest if latest else found -%}
  {%- endif -%}
  {%- if not found -%}
    {%- do exceptions.raise_compiler_error("Sutura audit: ref('" ~ name ~ "') matches no model, seed or snapshot.") -%}
  {%- endif -%}
  {%- set node = found[0] -%}
  {%- if node.unique_id == model.unique_id -%}
    {%- set audited = sutura._stash_get('audit_targets', model.unique_id) -%}
    {%- if audited is not none -%}
      {{ return(audited) }}
    {%- endif -%}
  {%- endif -%}
  {{ return(node.relation_name) }}
{%- endmacro %}
