{#- The current time as a timestamp without time zone, in UTC. -#}
{% macro _utc_now() -%}
  {{ return(adapter.dispatch('_utc_now', 'sutura')()) }}
{%- endmacro %}

{% macro default___utc_now() -%}
  {{ return("cast(now() at time zone 'UTC' as timestamp)") }}
{%- endmacro %}
