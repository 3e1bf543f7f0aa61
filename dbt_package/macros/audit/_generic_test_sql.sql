{#- The SQL of a generic test (not_null, unique, relationships, a package's or the
    project's own `{% test %}`) run against `relation` instead of the model. -#}
{% macro _generic_test_sql(test_node, relation) -%}
  {%- set metadata = test_node.test_metadata -%}
  {%- set macro_name = 'test_' ~ metadata.name -%}
  {%- set namespace = metadata.get('namespace') -%}
  {%- set scope = context[namespace] if namespace and namespace in context else context -%}
  {%- if macro_name not in scope -%}
    {%- do exceptions.raise_compiler_error(
        "Sutura audit: no macro '" ~ macro_name ~ "' for test " ~ test_node.unique_id ~ ".") -%}
  {%- endif -%}
  {%- set kwargs = {} -%}
  {%- for key, value in metadata.kwargs.items() if key != 'model' -%}
    {%- do kwargs.update({key: sutura._render_test_kwarg(key, value)}) -%}
  {%- endfor -%}
  {%- set where = test_node.config.get('where') -%}
  {%- if where -%}
    {%- set audited = '(select * from ' ~ relation ~ ' where ' ~ render(where) ~ ') dbt_subquery' -%}
  {%- else -%}
    {%- set audited = relation -%}
  {%- endif -%}
  {{ return(scope[macro_name](model=audited, **kwargs)) }}
{%- endmacro %}
