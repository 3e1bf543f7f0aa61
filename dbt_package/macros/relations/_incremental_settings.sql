{#- How a write_audit_publish node merges new data, or none when it rebuilds whole.
    Incremental when `sutura_incremental: true` or an `incremental_strategy` is set.
    Returns {'strategy': 'append' | 'delete+insert' | 'merge', 'unique_key': [..]}. -#}
{% macro _incremental_settings(cfg) -%}
  {%- set strategy = cfg.get('incremental_strategy') -%}
  {%- if strategy is none and not sutura._config_value(cfg, 'sutura_incremental', false) -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set unique_key = cfg.get('unique_key') -%}
  {%- if unique_key is none -%}
    {%- set keys = [] -%}
  {%- elif unique_key is string -%}
    {%- set keys = [unique_key] -%}
  {%- else -%}
    {%- set keys = unique_key | list -%}
  {%- endif -%}
  {%- if strategy is none -%}
    {%- set strategy = 'delete+insert' if keys else 'append' -%}
  {%- endif -%}
  {%- if strategy not in ['append', 'delete+insert', 'merge'] -%}
    {%- do exceptions.raise_compiler_error(
        "Sutura: write_audit_publish supports incremental_strategy append, delete+insert and merge, not '"
        ~ strategy ~ "'.") -%}
  {%- endif -%}
  {%- if strategy != 'append' and not keys -%}
    {%- do exceptions.raise_compiler_error(
        "Sutura: incremental_strategy '" ~ strategy ~ "' needs a unique_key.") -%}
  {%- endif -%}
  {{ return({'strategy': strategy, 'unique_key': keys}) }}
{%- endmacro %}
