{#- Append rows (dicts keyed by column name; missing keys are null) to the results
    table, in batches, and commit. -#}
{% macro _insert_result_rows(rows) -%}
  {%- if not rows -%}
    {{ return(0) }}
  {%- endif -%}
  {%- set relation = sutura._ensure_results_table() -%}
  {%- set columns = sutura._results_columns() -%}
  {%- set names = columns | map(attribute=0) | join(', ') -%}
  {%- for batch in rows | batch(100) -%}
    {%- set values = [] -%}
    {%- for row in batch -%}
      {%- set literals = [] -%}
      {%- for name, type in columns -%}
        {%- do literals.append(sutura._sql_literal(row.get(name), type)) -%}
      {%- endfor -%}
      {%- do values.append('(' ~ literals | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- call statement('sutura_insert_results') -%}
      insert into {{ relation }} ({{ names }}) values {{ values | join(',\n') }}
    {%- endcall -%}
  {%- endfor -%}
  {%- do adapter.commit() -%}
  {{ return(rows | length) }}
{%- endmacro %}
