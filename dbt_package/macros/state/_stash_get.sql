{#- A value kept with `_stash_put` earlier in this invocation, else `default`. -#}
{% macro _stash_get(section, key, default=none) -%}
  {%- set store = graph.get('sutura', {}) -%}
  {{ return(store.get(section, {}).get(key, default)) }}
{%- endmacro %}
