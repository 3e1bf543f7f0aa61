{#- A Sutura setting of a node: the key under `meta` (where dbt 1.10+ wants custom
    keys), else the config key itself. Works on the `config` object of a model and on
    the plain config dict of a graph node. -#}
{% macro _config_value(cfg, key, default=none) -%}
  {%- if cfg.meta_get is defined -%}
    {%- set value = cfg.meta_get(key) -%}
  {%- else -%}
    {%- set value = (cfg.get('meta') or {}).get(key) -%}
  {%- endif -%}
  {%- if value is none -%}
    {%- set value = cfg.get(key) -%}
  {%- endif -%}
  {{ return(default if value is none else value) }}
{%- endmacro %}
