{#- Keep a value for the rest of this dbt invocation (the materialization hands its
    audit outcome to `record_results` this way). Lives in the invocation's graph dict,
    which every node and the on-run-end hook of one invocation share. -#}
{% macro _stash_put(section, key, value) -%}
  {%- set store = graph.setdefault('sutura', {}) -%}
  {%- do store.setdefault(section, {}).update({key: value}) -%}
{%- endmacro %}
