{#- One generic-test argument, rendered the way dbt renders it for the test node
    (`to: ref('x')`, `"{{ var('y') }}"`), with refs redirected for the audit. -#}
{% macro _render_test_kwarg(key, value) -%}
  {%- if value is not string or key == 'column_name' -%}
    {{ return(value) }}
  {%- endif -%}
  {%- if modules.re.match('^\\s*(env_var|ref|var|source|doc)\\s*\\(.+\\)\\s*$', value) -%}
    {%- set value = '{{ ' ~ value ~ ' }}' -%}
  {%- endif -%}
  {%- if '{{' in value or '{%' in value -%}
    {{ return(render(sutura._redirect_refs(value))) }}
  {%- endif -%}
  {{ return(value) }}
{%- endmacro %}
